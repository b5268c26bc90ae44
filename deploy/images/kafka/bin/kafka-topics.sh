#!/bin/bash
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx256m} exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
