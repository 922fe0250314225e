"""Checks OpenLineage deliveries against openlineage-python's own model of the spec.

Reads the webhook receiver's request lines (path, headers, body) on stdin. For each: verifies
its signature with the `standardwebhooks` reference verifier (secret: argv[1]), then builds the
body again from openlineage-python's RunEvent, Run, Job, datasets and facet classes (generated
from the OpenLineage JSON schema, with its validators: the event type, an ISO time, a UUID run
id), checks each facet's `_schemaURL` is that class's schema and serialises it back: the body
must be exactly what the classes make of it, so a field the schema lacks, a missing required
one or a wrong type fails. Prints one JSON line per request: `{"ok": true, "event": ...}` or
`{"ok": false, "error": ...}`.
"""
import json
import sys

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    source_code_location_job,
)
from openlineage.client.serde import Serde
from standardwebhooks.webhooks import Webhook

FACETS = {
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet,
    "version": dataset_version_dataset.DatasetVersionDatasetFacet,
    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
}


def facets(given):
    out = {}
    for key, fields in (given or {}).items():
        cls = FACETS[key]
        if fields["_schemaURL"] != cls._get_schema():
            raise ValueError(f"{key}: schema {fields['_schemaURL']} is not {cls._get_schema()}")
        own = {k: v for k, v in fields.items() if not k.startswith("_")}
        out[key] = cls(**own, producer=fields["_producer"])
    return out


def dataset(cls, d, extra=None):
    kw = {"facets": facets(d.get("facets"))}
    if extra and extra in d:
        kw[extra] = facets(d[extra])
    return cls(namespace=d["namespace"], name=d["name"], **kw)


def rebuild(e):
    if e["schemaURL"] != RunEvent._get_schema():
        raise ValueError(f"schemaURL {e['schemaURL']} is not {RunEvent._get_schema()}")
    event = RunEvent(
        eventType=RunState(e["eventType"]),
        eventTime=e["eventTime"],
        producer=e["producer"],
        run=Run(runId=e["run"]["runId"], facets=facets(e["run"].get("facets"))),
        job=Job(namespace=e["job"]["namespace"], name=e["job"]["name"], facets=facets(e["job"].get("facets"))),
        inputs=[dataset(InputDataset, d, "inputFacets") for d in e.get("inputs", [])],
        outputs=[dataset(OutputDataset, d, "outputFacets") for d in e.get("outputs", [])],
    )
    return Serde.to_dict(event)


def drop_empty(v):
    """The classes leave out empty facet maps; so does the comparison."""
    if isinstance(v, dict):
        return {k: drop_empty(x) for k, x in v.items() if x not in ({}, None)}
    if isinstance(v, list):
        return [drop_empty(x) for x in v]
    return v


def main(secret):
    hook = Webhook(secret)
    for line in sys.stdin:
        r = json.loads(line)
        try:
            payload = hook.verify(r["body"], r["headers"])
            again = rebuild(payload)
            if drop_empty(again) != drop_empty(payload):
                raise ValueError(f"the schema's classes make {json.dumps(again)}")
            print(json.dumps({"ok": True, "event": payload}))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}", "body": r["body"]}))


if __name__ == "__main__":
    main(sys.argv[1])
