"""The operator console: one server-rendered web page per question an operator asks (is every
part healthy, how far behind is each consumer and each outbox, what was parked and what to do
with it, what happened to one person), for the operator role only.

It reads the platform as the ``shebao`` command does: the services' ``/ready``, ``/metrics``
and timelines through their HTTP APIs, the dead-letter topics on Kafka.
"""
