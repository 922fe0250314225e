"""A Kubernetes API for strata's Kubernetes runner tests: kmock's KubernetesEmulator (objects kept
in memory, created, read, patched, listed and deleted as an API server would) on 127.0.0.1:0,
plus a stand-in for what a cluster would do with them, since nothing here can run pods:

- a Deployment asking for a replica gets one: a Pod object, and the app itself (the image is
  played by `fixtures/apps/echo_app.py`, started on the Service's port); `status.readyReplicas`
  turns 1 once the app answers its readiness path, and 0 when the Deployment is scaled to 0
  (the process is stopped, the Pod object deleted);
- a Service gets the cluster IP 127.0.0.1;
- a Pod's log is the app's output.

Usage: kube_emulator.py <echo_app.py> <namespace>. It prints `URL <base>` once it listens and
runs until its stdin closes."""

import asyncio
import os
import subprocess
import sys
import urllib.request

import aiohttp
import kmock

ECHO, NS = sys.argv[1], sys.argv[2]


async def main():
    procs = {}  # deployment name -> subprocess
    logs = {}

    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        for resource in ("apps/v1/deployments", "v1/services", "v1/pods", "v1/secrets", "v1/persistentvolumeclaims",
                         "networking.k8s.io/v1/networkpolicies"):
            emulator.resources[resource] = {}
        base = str(server.url).rstrip("/")
        print(f"URL {base}", flush=True)

        def log_of(name):
            return lambda: "".join(logs.get(name, [])).encode()

        def follow(name, fd):
            # Whatever the pipe holds, as it comes: a buffered readline could keep a second line
            # in its buffer with nothing left in the pipe to wake the reader again.
            lines = logs[name]

            def read():
                data = os.read(fd, 65536)
                if data:
                    lines.append(data.decode("utf-8", "replace"))
                else:
                    asyncio.get_running_loop().remove_reader(fd)
            asyncio.get_running_loop().add_reader(fd, read)

        async with aiohttp.ClientSession(base_url=base) as http:
            async def get(path):
                async with http.get(path) as r:
                    return await r.json() if r.status == 200 else None

            async def patch(path, body):
                async with http.patch(path, json=body, headers={"Content-Type": "application/merge-patch+json"}) as r:
                    await r.read()

            async def tick():
                for ns_list in [await get(f"/apis/apps/v1/namespaces/{NS}/deployments")]:
                    for d in (ns_list or {}).get("items", []):
                        meta, spec, ns = d["metadata"], d.get("spec", {}), NS
                        name = meta["name"]
                        want = spec.get("replicas", 1)
                        svc = await get(f"/api/v1/namespaces/{ns}/services/{name}")
                        if svc and svc.get("spec", {}).get("clusterIP") != "127.0.0.1":
                            await patch(f"/api/v1/namespaces/{ns}/services/{name}", {"spec": {"clusterIP": "127.0.0.1"}})
                        container = spec["template"]["spec"]["containers"][0]
                        port = container["ports"][0]["containerPort"]
                        probe = container["readinessProbe"]["httpGet"]["path"]
                        running = name in procs and procs[name].poll() is None
                        pod = f"{name}-pod"
                        if want >= 1 and not running:
                            env = dict(os.environ)
                            env.update({e["name"]: e["value"] for e in container.get("env", [])})
                            env["ECHO_TOKEN_FROM_SECRET"] = "1"
                            procs[name] = subprocess.Popen(
                                [sys.executable, ECHO, "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=os.environ.get("KUBE_EMULATOR_HOME", "/tmp"))
                            logs[name] = []
                            follow(name, procs[name].stdout.fileno())
                            labels = spec["template"]["metadata"]["labels"]
                            async with http.post(f"/api/v1/namespaces/{ns}/pods",
                                                 json={"metadata": {"name": pod, "namespace": ns, "labels": labels}}) as r:
                                await r.read()
                            emulator[f"get /api/v1/namespaces/{ns}/pods/{pod}/log"] << log_of(name)
                        elif want == 0 and running:
                            asyncio.get_running_loop().remove_reader(procs[name].stdout.fileno())
                            procs[name].terminate()
                            procs[name].wait()
                            async with http.delete(f"/api/v1/namespaces/{ns}/pods/{pod}") as r:
                                await r.read()
                        ready = 0
                        if want >= 1 and name in procs and procs[name].poll() is None:
                            try:
                                with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1) as r:
                                    ready = 1 if r.status < 400 else 0
                            except Exception:
                                ready = 0
                        status = d.get("status") or {}
                        if status.get("readyReplicas", 0) != ready or status.get("replicas") != want:
                            await patch(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                                        {"status": {"replicas": want, "readyReplicas": ready, "availableReplicas": ready}})

            stdin_closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            try:
                while not stdin_closed.done():
                    try:
                        await tick()
                    except Exception as e:  # keep serving; say what went wrong
                        print(f"controller: {e!r}", file=sys.stderr, flush=True)
                    await asyncio.sleep(0.1)
            finally:
                for p in procs.values():
                    if p.poll() is None:
                        p.terminate()


asyncio.run(main())
