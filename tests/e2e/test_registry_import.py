"""A province's registry file, imported through identity's API by ``shebao import persons``
as an operator would, and refused cleanly when it is not what it should be; person facts
issued page by page by ``shebao issue-facts``."""

from __future__ import annotations

import csv
import os
import random
import subprocess
from pathlib import Path

import httpx

from deploy.demo.citizens import fake_citizen
from deploy.endpoints import KEYS
from deploy.stack import ServiceProcess
from tests.cli import shebao as run_shebao

COLUMNS = ("name", "id_number", "phone", "region", "guardian_id_number")


def registry_file(path: Path, records: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return path


def shebao(
    services: dict[str, ServiceProcess], home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SHEBAO_HOME": str(home),
        **{f"{name.upper()}_PORT": str(proc.port) for name, proc in services.items()},
    }
    return run_shebao(env, *args)


def test_a_file_is_imported_once_and_a_bad_row_stops_it_whole(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    rng = random.Random(4711)
    people = [fake_citizen(rng).registration() for _ in range(40)]
    good = registry_file(tmp_path / "good.csv", people)

    first = shebao(services, tmp_path, "import", "persons", str(good))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "40 rows: 40 registered, 0 already registered as given, 0 rejected." in first.stdout
    again = shebao(services, tmp_path, "import", "persons", str(good))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "40 rows: 0 registered, 40 already registered as given" in again.stdout

    fresh = [fake_citizen(rng).registration() for _ in range(5)]
    broken = {**fresh[2], "id_number": fresh[2]["id_number"][:17] + "Q"}
    bad = registry_file(tmp_path / "bad.csv", [*fresh[:2], broken, *fresh[3:]])
    report = tmp_path / "rejected.csv"
    refused = shebao(services, tmp_path, "import", "persons", str(bad), "--report", str(report))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "nothing imported" in refused.stdout
    assert broken["id_number"] not in refused.stdout + report.read_text()
    assert list(csv.DictReader(report.open())) == [
        {
            "line": "4",
            "code": "ID_NUMBER_FORMAT",
            "reason": "An ID number has 17 digits followed by a digit or X.",
        }
    ]
    partial = shebao(services, tmp_path, "import", "persons", str(bad), "--partial")
    assert partial.returncode == 0, partial.stdout + partial.stderr
    assert "5 rows: 4 registered, 0 already registered as given, 1 rejected." in partial.stdout
    assert "Traceback" not in first.stderr + refused.stderr + partial.stderr


def test_files_that_are_no_registry_are_refused_with_a_reason(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    url = f"{services['identity'].url}/v1/registry/imports"
    operator = {"X-Api-Key": KEYS["operator"], "Content-Type": "text/csv"}
    for body, code in (
        (b"\xff\xfe\x00name", "CSV_NOT_UTF8"),
        ("姓名,身份证号\n张三,1\n".encode(), "CSV_HEADER"),
    ):
        answer = httpx.post(url, content=body, headers=operator, timeout=30)
        assert (answer.status_code, answer.json()["code"]) == (422, code)
    window = {**operator, "X-Api-Key": "dev-window"}
    assert httpx.post(url, content=b"name\n", headers=window, timeout=30).status_code == 403
    assert httpx.post(url, content=b"name\n", timeout=30).status_code == 401
    header = ",".join(COLUMNS) + "\n"
    too_large = header.encode() + b"x" * (64 * 1024 * 1024)
    answer = httpx.post(url, content=too_large, headers=operator, timeout=60)
    assert (answer.status_code, answer.json()["code"]) == (413, "BODY_TOO_LARGE")

    header_only = tmp_path / "header.csv"
    header_only.write_text("who,what\n")
    refused = shebao(services, tmp_path, "import", "persons", str(header_only))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "The first line must name the columns" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr


def test_person_facts_are_issued_page_by_page_and_only_once(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    url = f"{services['identity'].url}/v1/registry/facts"
    operator = {"X-Api-Key": KEYS["operator"]}
    seen, after = 0, ""
    while True:
        page = httpx.post(url, json={"after": after, "limit": 7}, headers=operator, timeout=60)
        assert page.status_code == 200, page.text
        seen += page.json()["seen"]
        if page.json()["next_after"] is None:
            break
        after = page.json()["next_after"]
    again = shebao(services, tmp_path, "issue-facts")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"facts issued for 0, {seen} had them" in again.stdout
    window = {"X-Api-Key": "dev-window"}
    assert httpx.post(url, headers=window, timeout=30).status_code == 403
    odd = httpx.post(url, json={"limit": 0}, headers=operator, timeout=30)
    assert odd.status_code == 422, odd.text


def test_a_file_that_is_not_well_formed_csv_is_refused_where_it_breaks(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    url = f"{services['identity'].url}/v1/registry/imports"
    operator = {"X-Api-Key": KEYS["operator"], "Content-Type": "text/csv"}
    rng = random.Random(99)
    good = [",".join(fake_citizen(rng).registration().values()) for _ in range(6)]
    header = "name,id_number,phone,region"

    def post(body: str, partial: bool = True) -> httpx.Response:
        params = {"partial": str(partial).lower()}
        return httpx.post(url, content=body.encode(), params=params, headers=operator, timeout=60)

    unclosed = "\n".join([header, *good[:3], '"' + good[3], *good[4:]]) + "\n"
    answer = post(unclosed)
    assert (answer.status_code, answer.json()["code"]) == (422, "CSV_MALFORMED"), answer.text
    assert "Line 5 " in answer.json()["message"]
    bare_cr = "\r".join([header, *good]) + "\r"
    answer = post(bare_cr)
    assert (answer.status_code, answer.json()["code"]) == (422, "CSV_MALFORMED"), answer.text
    huge = "\n".join([header, good[0], "x" * 200_000 + ",1,2,3"]) + "\n"
    answer = post(huge)
    assert (answer.status_code, answer.json()["code"]) == (422, "CSV_MALFORMED"), answer.text
    for bad_header in ("name,name,id_number,phone,region", header + ",salary"):
        answer = post(bad_header + "\n" + good[0] + "\n")
        assert (answer.status_code, answer.json()["code"]) == (422, "CSV_HEADER"), bad_header
    uneven = "\n".join([header, good[0] + ",extra", good[1].rsplit(",", 1)[0]]) + "\n"
    answer = post(uneven, partial=False)
    assert answer.status_code == 200, answer.text
    assert [(r["line"], r["code"]) for r in answer.json()["rejected"]] == [
        (2, "ROW_FIELDS"),
        (3, "ROW_FIELDS"),
    ]
    for content_type in ("application/json", "text/csv; charset=gbk", "multipart/form-data"):
        answer = httpx.post(
            url,
            content=f"{header}\n".encode(),
            headers={**operator, "Content-Type": content_type},
            timeout=30,
        )
        assert (answer.status_code, answer.json()["code"]) == (415, "CSV_EXPECTED"), content_type


def test_many_rejected_rows_are_counted_and_the_first_thousand_listed(
    services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    url = f"{services['identity'].url}/v1/registry/imports"
    operator = {"X-Api-Key": KEYS["operator"], "Content-Type": "text/csv"}
    body = "name,id_number,phone,region\n" + "张三,1,13800000000,110101\n" * 1500
    answer = httpx.post(url, content=body.encode(), headers=operator, timeout=60)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["rejected_count"], len(answer.json()["rejected"])) == (1500, 1000)
    assert answer.json()["committed"] is False
    refused = shebao(
        services,
        tmp_path,
        "import",
        "persons",
        str(registry_file(tmp_path / "f.csv", [])),
        "--report",
        str(tmp_path),
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr


def test_an_idempotency_key_is_for_one_query_and_body(
    services: dict[str, ServiceProcess],
) -> None:
    url = f"{services['identity'].url}/v1/registry/imports"
    rng = random.Random(5150)
    rows = [fake_citizen(rng).registration() for _ in range(2)]
    body = "name,id_number,phone,region\n" + "".join(
        ",".join(r.values()) + "\n" for r in [rows[0], {**rows[1], "region": "x"}]
    )
    headers = {
        "X-Api-Key": KEYS["operator"],
        "Content-Type": "text/csv",
        "Idempotency-Key": "import-5150",
    }
    first = httpx.post(url, content=body.encode(), headers=headers, timeout=60)
    assert first.json()["committed"] is False
    again = httpx.post(
        url, content=body.encode(), params={"partial": "true"}, headers=headers, timeout=60
    )
    assert (again.status_code, again.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    replayed = httpx.post(url, content=body.encode(), headers=headers, timeout=60)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
