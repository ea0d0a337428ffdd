#!/usr/bin/env python3
"""Blocks compatibility check: the real Prefect 3 client and prefect-kubernetes against a server.

Run:  PREFECT_API_URL=http://127.0.0.1:PORT/api python prefect_blocks_check.py

Needs prefect==3.9.1 and prefect-kubernetes==0.8.0 in the running interpreter. Checks:

  * `prefect block register -m prefect_kubernetes` succeeds, and afterwards the three
    Kubernetes block types exist with one schema per checksum the client computes
    (a server that seeded them must not get duplicates);
  * KubernetesClusterConfig(config=..., context_name=...).save(name) then .load(name)
    gives back the same kubeconfig and context;
  * KubernetesCredentials nesting that saved config saves with a reference and loads with
    the config inlined;
  * Secret(value=...).save(name) reads masked through the REST API without
    include_secrets, and Secret.load(name).get() gives the value back;
  * save(..., overwrite=True) replaces the value, and saving a taken name without it fails.

Exit status 0 and one line "blocks compat: ok" on success; otherwise the failure is
printed and the exit status is 1 (2 for a usage error).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

# --- settings: must be in the environment before prefect is imported --------
_API_URL = os.environ.get("PREFECT_API_URL", "").strip()
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="weir-blocks-home-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect.blocks.system import Secret  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect_kubernetes.credentials import (  # noqa: E402
    KubernetesClusterConfig,
    KubernetesCredentials,
)
from prefect_kubernetes.jobs import KubernetesJob  # noqa: E402

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "ctx",
    "users": [{"name": "u", "user": {"token": "abc"}}],
}


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def register_collection() -> None:
    prefect = os.path.join(os.path.dirname(sys.executable), "prefect")
    done = subprocess.run(
        [prefect, "block", "register", "-m", "prefect_kubernetes"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    check(
        done.returncode == 0,
        f"prefect block register failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
    )


def check_registered() -> None:
    with get_client(sync_client=True) as client:
        for block in (KubernetesClusterConfig, KubernetesCredentials, KubernetesJob):
            slug = block.get_block_type_slug()
            block_type = client.read_block_type_by_slug(slug)
            schema = client.read_block_schema_by_checksum(
                block._calculate_schema_checksum(), version=block.get_block_schema_version()
            )
            check(schema.block_type_id == block_type.id, f"{slug}: schema of another type")
            response = client._client.post(
                "/block_schemas/filter",
                json={"block_schemas": {"block_type_id": {"any_": [str(block_type.id)]}}},
            )
            checksums = [s["checksum"] for s in response.json()]
            check(
                len(checksums) == len(set(checksums)),
                f"{slug}: duplicate schemas {checksums}",
            )


def check_cluster_config_round_trip() -> None:
    KubernetesClusterConfig(config=KUBECONFIG, context_name="ctx").save("my-cluster")
    loaded = KubernetesClusterConfig.load("my-cluster")
    check(loaded.config == KUBECONFIG, f"config came back as {loaded.config}")
    check(loaded.context_name == "ctx", f"context came back as {loaded.context_name}")

    KubernetesCredentials(cluster_config=loaded).save("my-k8s-creds")
    credentials = KubernetesCredentials.load("my-k8s-creds")
    check(credentials.cluster_config is not None, "the nested cluster config is missing")
    check(credentials.cluster_config.config == KUBECONFIG, "the nested kubeconfig differs")
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            "my-k8s-creds", "kubernetes-credentials"
        )
        reference = document.block_document_references["cluster_config"]["block_document"]
        check(reference["name"] == "my-cluster", f"reference: {reference}")


def check_secret_round_trip() -> None:
    Secret(value="s3cr3t-token").save("my-secret")
    with get_client(sync_client=True) as client:
        response = client._client.get("/block_types/slug/secret/block_documents/name/my-secret")
        masked = response.json()["data"]["value"]
        check(masked == "********", f"the secret read unmasked: {masked!r}")
    check(Secret.load("my-secret").get() == "s3cr3t-token", "the secret did not round-trip")
    Secret(value="rotated").save("my-secret", overwrite=True)
    check(Secret.load("my-secret").get() == "rotated", "overwrite did not replace the value")
    try:
        Secret(value="again").save("my-secret")
    except ValueError:
        pass
    else:
        raise AssertionError("saving a taken name without overwrite succeeded")


def main() -> int:
    if not _API_URL:
        print("PREFECT_API_URL is not set", file=sys.stderr)
        return 2
    try:
        register_collection()
        check_registered()
        check_cluster_config_round_trip()
        check_secret_round_trip()
    except AssertionError as failure:
        print(f"blocks compat: FAILED: {failure}")
        return 1
    print("blocks compat: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
