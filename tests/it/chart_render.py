"""Renders the Helm chart offline (helm-python-sdk: Helm's own Go SDK, no helm binary, no cluster)
for one set of values read as JSON on stdin, validates every rendered manifest with
kubernetes-validate --strict against a Kubernetes version's schemas, and prints JSON:
{"objects": [...], "invalid": [...], "unvalidated": [...]} or {"error": "..."} when the chart
refuses the values. With the argument "lint", prints helm lint's report (strict) instead; with
"values", the chart's default values."""

import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml

CHART = sys.argv[1]
KUBE_VERSION = "1.32.0"
# CRDs whose schemas kubernetes-validate does not carry: checked by the caller, said here.
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

if len(sys.argv) > 2 and sys.argv[2] == "values":
    print(json.dumps(helm.Chart.load(CHART).values))
    sys.exit(0)
if len(sys.argv) > 2 and sys.argv[2] == "lint":
    print(json.dumps(helm.lint(CHART, json.load(sys.stdin), strict=True, kube_version="v" + KUBE_VERSION)))
    sys.exit(0)

values = json.load(sys.stdin)
try:
    rendered = helm.Chart.load(CHART).render(values, name="strata", namespace="data", is_install=True)
except helm.HelmError as e:
    print(json.dumps({"error": str(e)}))
    sys.exit(0)

objects, invalid, unvalidated = [], [], []
for path, text in sorted(rendered.items()):
    if not path.endswith(".yaml"):
        continue
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        objects.append(doc)
        if (doc.get("apiVersion"), doc.get("kind")) in CRDS:
            unvalidated.append(doc["kind"])
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except Exception as e:  # ValidationError, or a kind with no schema
            invalid.append(f"{path} {doc.get('kind')}: {e}")
print(json.dumps({"objects": objects, "invalid": invalid, "unvalidated": unvalidated}))
