-- wrk script of the HTTP benchmark (bench/http.py): each request from a prepared file, once.
--
--   wrk -t THREADS -s bench/http.lua URL -- REQUESTS THREADS OUT [PACE_MS] [CAPTURE]
--
-- REQUESTS holds one request per line: METHOD \t PATH \t HEADERS \t BODY, the headers as
-- "name: value" joined by \x1e. Thread t of n sends lines t, t+n, t+2n, ... once each. When
-- its last answer is in, it writes OUT.stats.<t> (answers, first send and last answer on the
-- monotonic clock) and stops: wrk itself runs until its -d duration or SIGINT, so bench/http.py
-- interrupts it once every thread is done, and times the run from these files. With CAPTURE
-- (1), each thread writes every 2xx answer to OUT.answers.<t>: its X-Correlation-Id, a tab, its
-- body. With PACE_MS, each connection waits that long before each request (a paced run).
-- At the end wrk prints one JSON line: its own count and duration (what a run cut by -d
-- reports), errors and latency percentiles.

local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } shebao_timespec;
  int clock_gettime(int clock, shebao_timespec *at);
]])
local at = ffi.new("shebao_timespec")
local function now()
  ffi.C.clock_gettime(1, at) -- CLOCK_MONOTONIC
  return tonumber(at.tv_sec) + tonumber(at.tv_nsec) / 1e9
end

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local function split(text, sep)
  local parts, start = {}, 1
  while true do
    local found = string.find(text, sep, start, true)
    if not found then
      table.insert(parts, string.sub(text, start))
      return parts
    end
    table.insert(parts, string.sub(text, start, found - 1))
    start = found + #sep
  end
end

function init(args)
  local source, threads = args[1], tonumber(args[2])
  out, wait = args[3], tonumber(args[4] or "")
  requests, next_one, sent, answered, shown, finished = {}, 1, 0, 0, 0, false
  -- While the last answers are awaited, a connection asking for more gets this, not counted.
  filler = wrk.format("GET", "/health")
  local line_no = 0
  for line in io.lines(source) do
    if line_no % threads == id then
      local f = split(line, "\t")
      local headers = {}
      if f[3] ~= "" then
        for _, h in ipairs(split(f[3], "\30")) do
          local colon = string.find(h, ":", 1, true)
          headers[string.sub(h, 1, colon - 1)] = string.sub(h, colon + 2)
        end
      end
      local body = f[4]
      if body == "" then body = nil end
      table.insert(requests, wrk.format(f[1], f[2], headers, body))
    end
    line_no = line_no + 1
  end
  if args[5] == "1" then
    captured = io.open(out .. ".answers." .. id, "w")
  end
end

local function finish()
  if finished then return end
  finished = true
  local stats = io.open(out .. ".stats." .. id, "w")
  stats:write(string.format("%d %.6f %.6f\n", answered, first or 0, last or 0))
  stats:close()
  if captured then captured:close() end
  wrk.thread:stop()
end

function delay()
  return wait or 0
end

function request()
  if not checked then
    -- wrk asks the first thread for one request before the run, only to check it.
    checked = true
    if id == 0 then return filler end
  end
  local r = requests[next_one]
  if r == nil then
    if answered >= sent then finish() end
    return filler
  end
  next_one = next_one + 1
  sent = sent + 1
  first = first or now()
  return r
end

function response(status, headers, body)
  if string.sub(body, 1, 15) == '{"status":"ok",' then return end -- a filler's answer
  answered = answered + 1
  last = now()
  if status < 300 then
    if captured then
      local tag = headers["x-correlation-id"] or headers["X-Correlation-Id"] or ""
      captured:write(tag, "\t", body, "\n")
    end
  elseif shown < 2 then
    shown = shown + 1
    io.stderr:write(status, " ", body, "\n")
  end
  if next_one > #requests and answered >= sent then finish() end
end

function done(summary, latency, requests)
  local s = summary
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "status_errors": %d, "socket_errors": %d, '
      .. '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f}\n',
    s.requests, s.duration / 1e6, s.errors.status, s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3))
end
