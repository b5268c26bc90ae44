#!/bin/bash
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1g} exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
