"""Live fleet: ``memwarden record nats://…`` runs the live eBPF sensor (tracepoint hooks) and
publishes what it delivers to a real ``nats-server -js`` on loopback; ``memwarden replay
nats://…?durable=…`` elsewhere turns a real read of /proc/kcore into TRC-1021 with the host
name and process context the sensor knew, the parent included although it started before the
sensor did (its facts come from the recording side's /proc-seeded table, carried with the
events as ``ancestors``).

The reader is ``dd``, started by a shell whose executable is a copy of /bin/sh named
``mw-fleet-par`` (so its comm is unmistakable), itself started by this test before the
recorder. /proc/kcore is a stand-in: a file on a tmpfs mounted on /proc in a private mount
namespace. Every wait is on state (ready lines, files); nothing is timed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from ebpf_live import require_sensor
from natsserver import WAIT, NatsServer, wait_for

pytestmark = pytest.mark.live

PARENT = "mw-fleet-par"
READER = ("mount -t tmpfs none /proc && echo fake > /proc/kcore && echo $$ && "
          "exec dd if=/proc/kcore of=/dev/null bs=1 count=1 status=none")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    require_sensor()
    s = NatsServer(tmp_path / "nats")
    s.start()
    try:
        yield s
    finally:
        s.stop()


class Proc:
    """A memwarden command with its stderr collected by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "memwarden", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.err: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line.decode(errors="replace"))

    def wait_ready(self, what: str) -> None:
        wait_for(lambda: any("memwarden: ready" in x for x in self.err)
                 or self.proc.poll() is not None, f"{what} ready", timeout=WAIT * 2)
        assert self.proc.poll() is None, "".join(self.err)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        assert self.proc.wait(WAIT) == 0, "".join(self.err)
        self._t.join(WAIT)
        return "".join(self.err)


def findings(path: Path, pid: int, sig: str) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        d = orjson.loads(line)
        if d.get("hostProcessId") == pid and d["metadata"]["Properties"]["signatureID"] == sig:
            out.append(d)
    return out


def v1_findings(path: Path, pid: int, sig: str) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        d = orjson.loads(line)
        if (d["workload"]["process"].get("hostPid") == pid
                and d["threat"]["properties"]["signatureID"] == sig):
            out.append(d)
    return out


def test_record_to_nats_then_replay_raises_the_finding_with_the_live_context(
        server: NatsServer, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"nats:\n  buffer_dir: {tmp_path / 'buffer'}\ndelivery:\n"
                      "  timeout: 2.0\n")
    parent_exe = tmp_path / PARENT
    shutil.copy("/bin/sh", parent_exe)
    # the parent: started before the sensor, it waits for a line, then runs the reader in a
    # private mount namespace (unshare execs sh, sh execs dd: dd is the parent's child)
    parent = subprocess.Popen(
        [str(parent_exe), "-c", f"read go; unshare -m --propagation private sh -c "
                                f"'{READER}'; read done"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    url = f"{server.url}/events"
    record = consumer = None
    try:
        record = Proc("record", f"{url}?batch=1", "--hooks", "tracepoint", "--config",
                      str(config), "-o", f"file:{tmp_path / 'record-findings.jsonl'}")
        record.wait_ready("record")
        out, out_v1 = tmp_path / "findings.jsonl", tmp_path / "findings-v1.jsonl"
        consumer = Proc("replay", f"{url}?durable=live&ack_wait=2s", "--config", str(config),
                        "-o", f"file:{out}", "-o", f"tracee-v1beta1:file:{out_v1}")
        consumer.wait_ready("replay")
        assert parent.stdin is not None and parent.stdout is not None
        parent.stdin.write(b"go\n")
        parent.stdin.flush()
        pid = int(parent.stdout.readline())

        def diagnose() -> str:
            rec = tmp_path / "record-findings.jsonl"
            return (f"record-side findings of {pid}: {findings(rec, pid, 'TRC-1021')!r}; "
                    f"EVENTS holds {server.stream_count('EVENTS')}; record said: "
                    f"{''.join(record.err)[-3000:]}; replay said: "
                    f"{''.join(consumer.err)[-2000:]}")

        try:
            found = wait_for(lambda: findings(out, pid, "TRC-1021"),
                             "TRC-1021 from the consumer")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {diagnose()}") from None
        found_v1 = wait_for(lambda: v1_findings(out_v1, pid, "TRC-1021"),
                            "the same finding in tracee-v1beta1")
        local = wait_for(lambda: findings(tmp_path / "record-findings.jsonl", pid, "TRC-1021"),
                         "TRC-1021 on the recording side")
        assert len(found) == len(found_v1) == len(local) == 1
        f, v1 = found[0], found_v1[0]
        assert f["hostName"] == socket.gethostname() == local[0]["hostName"]
        assert f["processName"] == "dd" == local[0]["processName"]
        assert f["executable"]["path"].endswith("/dd")
        assert f["hostParentProcessId"] == parent.pid
        assert f["args"] == local[0]["args"] and f["timestamp"] == local[0]["timestamp"]
        # the parent chain the live sensor's table knew: the parent (older than the sensor,
        # known there from /proc), then this test's process
        anc = v1["workload"]["process"]["ancestors"]
        assert anc[0]["hostPid"] == parent.pid
        assert anc[0]["thread"]["name"] == PARENT
        assert anc[0]["executable"]["path"] == str(parent_exe)
        assert anc[1]["hostPid"] == os.getpid()
        assert anc[1]["thread"]["name"] == Path(f"/proc/{os.getpid()}/comm").read_text().strip()
        assert v1["workload"]["process"]["thread"]["name"] == "dd"
        # ... which travelled with the event: the stored open names the parent chain
        opens = [e for _, _, _, payload in server.stream_messages("EVENTS")
                 for e in map(orjson.loads, payload.splitlines())
                 if e["hostProcessId"] == pid and e["eventName"] == "security_file_open"]
        assert opens and all(e["ancestors"][0]["thread"]["name"] == PARENT for e in opens)
        parent.stdin.write(b"done\n")
        parent.stdin.flush()
        assert parent.wait(WAIT) == 0
        assert "error" not in consumer.stop().lower()
        record.stop()
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait(WAIT)
        for p in (consumer, record):
            if p is not None and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait(WAIT)
