"""Parses strata's /metrics (read on stdin) with prometheus_client's OpenMetrics parser, which
refuses text that breaks the format, and prints the samples as JSON:
[{"family": ..., "type": ..., "name": ..., "labels": {...}, "value": ...}]."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append({"family": family.name, "type": family.type, "name": s.name,
                        "labels": s.labels, "value": s.value})
print(json.dumps(samples))
