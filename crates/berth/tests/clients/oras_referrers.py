"""Push an artifact and a referrer with oras-py, then list the referrers.

Usage: oras_referrers.py HOST:PORT REPO WORKDIR USER PASSWORD
Prints one JSON object: the subject digest, the referrer digest and the
referrers index the registry returned.
"""
import json
import os
import sys

import oras.client
import oras.oci

host, repo, workdir, user, password = sys.argv[1:6]
os.chdir(workdir)
with open("artifact.txt", "w") as f:
    f.write("an artifact pushed by oras\n")
with open("signature.json", "w") as f:
    f.write('{"signed": true}\n')

client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
client.login(username=user, password=password, hostname=host, tls_verify=False)
base = client.push(target=f"{host}/{repo}:base", files=["artifact.txt:text/plain"])
subject_digest = base.headers["Docker-Content-Digest"]

head = client.do_request(f"http://{host}/v2/{repo}/manifests/{subject_digest}", "HEAD",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
subject = oras.oci.Subject(mediaType="application/vnd.oci.image.manifest.v1+json",
                           digest=subject_digest, size=int(head.headers["Content-Length"]))
signed = client.push(target=f"{host}/{repo}:signature",
                     files=["signature.json:application/vnd.example.signature+json"],
                     subject=subject)
referrer_digest = signed.headers["Docker-Content-Digest"]

listing = client.do_request(f"http://{host}/v2/{repo}/referrers/{subject_digest}", "GET",
                            headers={"Accept": "application/vnd.oci.image.index.v1+json"})
listing.raise_for_status()
print(json.dumps({
    "subject": subject_digest,
    "referrer": referrer_digest,
    "oci_subject_header": signed.headers.get("OCI-Subject"),
    "index": listing.json(),
}))
