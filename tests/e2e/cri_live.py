"""Helpers of the live CRI tests: a real containerd (Debian's package) started with a private
config, root, state and socket under a tmp dir, its CRI plugin on, a sandbox image imported
from podman without a registry; pods created through the CRI API as the kubelet creates them
(RunPodSandbox, CreateContainer, StartContainer), in the host's network namespace (no CNI)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from podman_live import IMAGE, ensure_image, require_podman, wait_for

from memwarden.enrich import cri

PAUSE = "localhost/memwarden-test-pause:1.0"
NODE = 2  # NamespaceMode.NODE

#: the kubelet's side of the CRI messages (only what the test sets), CRI v1 field numbers
KUBELET_MESSAGES: dict[str, cri.Fields] = {
    "PodSandboxMetadata": cri.MESSAGES["PodSandboxMetadata"],
    "ContainerMetadata": cri.MESSAGES["ContainerMetadata"],
    "ImageSpec": cri.MESSAGES["ImageSpec"],
    "NamespaceOption": [("network", 1, "int32", "", ""), ("pid", 2, "int32", "", ""),
                        ("ipc", 3, "int32", "", "")],
    "LinuxSandboxSecurityContext": [
        ("namespace_options", 1, "message", "", "NamespaceOption"),
        ("privileged", 6, "bool", "", "")],
    "LinuxPodSandboxConfig": [
        ("cgroup_parent", 1, "string", "", ""),
        ("security_context", 2, "message", "", "LinuxSandboxSecurityContext")],
    "PodSandboxConfig": [("metadata", 1, "message", "", "PodSandboxMetadata"),
                         ("hostname", 2, "string", "", ""),
                         ("log_directory", 3, "string", "", ""),
                         ("labels", 6, "map", "", ""), ("annotations", 7, "map", "", ""),
                         ("linux", 8, "message", "", "LinuxPodSandboxConfig")],
    "RunPodSandboxRequest": [("config", 1, "message", "", "PodSandboxConfig"),
                             ("runtime_handler", 2, "string", "", "")],
    "RunPodSandboxResponse": [("pod_sandbox_id", 1, "string", "", "")],
    "LinuxContainerSecurityContext": [
        ("privileged", 2, "bool", "", ""),
        ("namespace_options", 3, "message", "", "NamespaceOption")],
    "LinuxContainerConfig": [
        ("security_context", 2, "message", "", "LinuxContainerSecurityContext")],
    "ContainerConfig": [("metadata", 1, "message", "", "ContainerMetadata"),
                        ("image", 2, "message", "", "ImageSpec"),
                        ("command", 3, "string", "r", ""), ("args", 4, "string", "r", ""),
                        ("labels", 9, "map", "", ""), ("annotations", 10, "map", "", ""),
                        ("log_path", 11, "string", "", ""),
                        ("linux", 15, "message", "", "LinuxContainerConfig")],
    "CreateContainerRequest": [("pod_sandbox_id", 1, "string", "", ""),
                               ("config", 2, "message", "", "ContainerConfig"),
                               ("sandbox_config", 3, "message", "", "PodSandboxConfig")],
    "CreateContainerResponse": [("container_id", 1, "string", "", "")],
    "StartContainerRequest": [("container_id", 1, "string", "", "")],
    "PodSandboxIdRequest": [("pod_sandbox_id", 1, "string", "", "")],
    "Empty": [],
}


def require_containerd() -> None:
    require_podman()
    if not cri.available():
        pytest.skip("grpcio/protobuf missing: pip install -e .[cri] (scripts/setup.sh)")
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing: bash scripts/setup.sh --dev installs containerd")


class Containerd:
    """``containerd`` on ``tmp/containerd.sock`` with everything of its own under ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sock = str(tmp / "containerd.sock")
        cfg = tmp / "containerd.toml"
        cfg.write_text(f"""version = 2
root = "{tmp}/root"
state = "{tmp}/state"
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{tmp}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true  # the sandbox's -998 is refused here (EACCES)
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{tmp}/cni/bin"
    conf_dir = "{tmp}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
""")
        self.log = open(tmp / "containerd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["containerd", "--config", str(cfg)],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.m = cri.build_messages(KUBELET_MESSAGES, file_name="memwarden_kubelet.proto")
        self.client: cri.CriClient | None = None
        wait_for(self._answers, 30.0, f"containerd's CRI on {self.sock} ({self.log_text()})")
        self.client = cri.CriClient(self.sock, timeout=60.0)

    def log_text(self) -> str:
        p = self.tmp / "containerd.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"containerd exited: {self.log_text()}")
        if not Path(self.sock).exists():
            return False
        c = cri.CriClient(self.sock, timeout=2.0)
        try:
            return bool(c.runtime)
        except Exception:
            return False
        finally:
            c.close()

    def ctr(self, *args: str, stdin: Any = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", self.sock, "-n", "k8s.io", *args],
                              capture_output=True, text=True, check=True, stdin=stdin,
                              timeout=120)

    def import_images(self) -> None:
        """The test image and a sandbox image from it (its command sleeps), from podman's
        store: ``podman save`` then ``ctr images import``, no registry."""
        ensure_image(self.tmp)
        if subprocess.run(["podman", "image", "exists", PAUSE]).returncode != 0:
            cid = subprocess.run(["podman", "create", "--runtime", "runc", IMAGE, "true"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            try:
                subprocess.run(["podman", "commit", "-q", "--change",
                                'CMD ["/bin/sleep", "86400"]', cid, PAUSE],
                               capture_output=True, check=True)
            finally:
                subprocess.run(["podman", "rm", "-f", cid], capture_output=True)
        for ref in (IMAGE, PAUSE):
            tar = self.tmp / (ref.rsplit("/", 1)[1].replace(":", "_") + ".tar")
            subprocess.run(["podman", "save", "--format", "docker-archive", "-o", str(tar),
                            ref], capture_output=True, check=True)
            self.ctr("images", "import", "--no-unpack", str(tar))

    def call(self, method: str, request: Any, response: str) -> Any:
        assert self.client is not None
        call = self.client._channel.unary_unary(
            cri.RUNTIME + method, request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=self.m[response].FromString)
        return call(request, timeout=120)

    def run_pod(self, name: str, namespace: str, uid: str, labels: dict[str, str]
                ) -> tuple[str, Any]:
        """A pod sandbox as the kubelet makes one, in the host's network namespace."""
        m = self.m
        config = m["PodSandboxConfig"](
            metadata=m["PodSandboxMetadata"](name=name, namespace=namespace, uid=uid),
            log_directory=str(self.tmp / "logs" / uid),
            labels={**labels, "io.kubernetes.pod.name": name,
                    "io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.uid": uid},
            linux=m["LinuxPodSandboxConfig"](security_context=m["LinuxSandboxSecurityContext"](
                namespace_options=m["NamespaceOption"](network=NODE))))
        (self.tmp / "logs" / uid).mkdir(parents=True, exist_ok=True)
        got = self.call("RunPodSandbox", m["RunPodSandboxRequest"](config=config),
                        "RunPodSandboxResponse")
        return got.pod_sandbox_id, config

    def run_container(self, pod_id: str, pod_config: Any, name: str, command: list[str]
                      ) -> str:
        m = self.m
        meta = pod_config.metadata
        labels = {"io.kubernetes.container.name": name, "io.kubernetes.pod.name": meta.name,
                  "io.kubernetes.pod.namespace": meta.namespace,
                  "io.kubernetes.pod.uid": meta.uid}
        config = m["ContainerConfig"](
            metadata=m["ContainerMetadata"](name=name), image=m["ImageSpec"](image=IMAGE),
            command=command, labels=labels, log_path=f"{name}.log",
            linux=m["LinuxContainerConfig"](security_context=m["LinuxContainerSecurityContext"](
                namespace_options=m["NamespaceOption"](network=NODE))))
        cid = self.call("CreateContainer", m["CreateContainerRequest"](
            pod_sandbox_id=pod_id, config=config, sandbox_config=pod_config),
            "CreateContainerResponse").container_id
        self.call("StartContainer", m["StartContainerRequest"](container_id=cid), "Empty")
        return cid

    def remove_pod(self, pod_id: str) -> None:
        for method in ("StopPodSandbox", "RemovePodSandbox"):
            with contextlib.suppress(Exception):
                self.call(method, self.m["PodSandboxIdRequest"](pod_sandbox_id=pod_id),
                          "Empty")

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        # the runtime's mounts of the private root (sandbox shm, rootfs) go with it
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        for line in reversed(mounts):
            target = line.split()[1]
            if target.startswith(str(self.tmp)):
                subprocess.run(["umount", "-l", target], capture_output=True)
