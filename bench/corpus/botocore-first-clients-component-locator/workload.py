"""A burst of requests creates the first boto3 clients from a handler pool.

The service signs EKS-style authentication tokens: each request builds an STS
client with boto3.client(...) and presigns GetCallerIdentity (no network is
involved).  The first requests of the process arrive together on a
ThreadPoolExecutor, so several handlers create the first clients of the
default session at once.  botocore's ComponentLocator builds lazily registered
components (endpoint_resolver, ...) on first use with an unguarded
check-build-delete sequence; when two handlers both build one, the second
`del self._deferred[name]` raises KeyError and that request fails.

CORPUS_FIXED=1 installs ComponentLocator.get_component as released in
botocore 1.31.16 (boto/botocore#2985), which tolerates the double delete.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.session

if os.environ.get("CORPUS_FIXED") == "1":
    def _get_component(self, name):
        # botocore >= 1.31.16: a concurrent first build may already have
        # removed the deferred factory; that must not fail the caller.
        if name in self._deferred:
            factory = self._deferred[name]
            self._components[name] = factory()
            try:
                del self._deferred[name]
            except KeyError:
                pass
        try:
            return self._components[name]
        except KeyError:
            raise ValueError("Unknown component: %s" % name)

    botocore.session.ComponentLocator.get_component = _get_component


def issue_token(cluster):
    sts = boto3.client(
        "sts",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    )
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    return cluster, url


def main():
    clusters = ["cluster-%d" % i for i in range(8)]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="handler") as pool:
        tokens = list(pool.map(issue_token, clusters))  # re-raises a handler's error
    assert [c for c, _ in tokens] == clusters
    for _, url in tokens:
        assert "Action=GetCallerIdentity" in url and "X-Amz-Signature=" in url, url


if __name__ == "__main__":
    main()
