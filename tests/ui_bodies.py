"""Bodies the console receives, as the senders make them: memwarden's own formats (from a
recorded event), Tracee's v1beta1 detection, and an alert as Falco's http_output posts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from memwarden.core.event import Event, Finding
from memwarden.outputs.formats import format_falco, format_tracee
from memwarden.signatures import find_signature

DATA = Path(__file__).parent / "data"


def finding(line: int = 0, signature: str = "proc_kcore_read", **event: Any) -> Finding:
    d = orjson.loads((DATA / "tracee_legacy.jsonl").read_bytes().splitlines()[line])
    d.update(event)
    return Finding(find_signature(signature).metadata, Event.from_dict(d))


def tracee_body(**kw: Any) -> bytes:
    return format_tracee(finding(**kw))


def falco_body(**kw: Any) -> bytes:
    return format_falco(finding(**kw))


FALCO_OWN = {
    "uuid": "8a1c3f52-41b4-4c2e-9f61-2a51d7d8f3a1",
    "output": "22:13:20.123456789: Warning Sensitive file opened for reading by non-trusted "
              "program (file=/etc/shadow gparent=systemd ggparent=<NA> ggggparent=<NA> "
              "evt_type=openat user=root user_uid=0 process=cat proc_exepath=/usr/bin/cat "
              "parent=bash command=cat /etc/shadow terminal=34816 container_id=host "
              "container_name=host)",
    "priority": "Warning",
    "rule": "Read sensitive file untrusted",
    "time": "2023-11-14T22:13:20.123456789Z",
    "output_fields": {
        "container.id": "host", "container.name": "host", "evt.type": "openat",
        "fd.name": "/etc/shadow", "proc.aname[2]": "systemd", "proc.aname[3]": None,
        "proc.apid[2]": 1, "proc.cmdline": "cat /etc/shadow", "proc.exepath": "/usr/bin/cat",
        "proc.name": "cat", "proc.pname": "bash", "proc.ppid": 4100, "proc.pid": 4242,
        "user.name": "root", "user.uid": 0,
    },
    "source": "syscall",
    "tags": ["T1555", "container", "filesystem", "host", "maturity_stable",
             "mitre_credential_access"],
    "hostname": "node-7",
}

V1BETA1 = {
    "timestamp": "2023-11-14T22:13:20.5Z",
    "id": 6018,
    "name": "core_dump_read",
    "workload": {
        "process": {"executable": {"path": "/usr/bin/gdb"}, "hostPid": 5150, "pid": 12,
                    "realUser": {"id": 1000},
                    "thread": {"name": "gdb", "hostTid": 5150, "tid": 12},
                    "ancestors": [{"hostPid": 5100, "pid": 1, "thread": {"name": "bash"}},
                                  {"hostPid": 1, "pid": 1, "executable": {"path": "/sbin/init"}}]},
        "container": {"id": "c0ffee0123456789", "name": "debugger",
                      "image": {"name": "docker.io/library/debian:12"}},
        "k8s": {"pod": {"name": "debug-pod"}, "namespace": {"name": "ops"}},
    },
    "threat": {"name": "Core dump read", "description": "core dump read",
               "severity": "HIGH", "properties": {"signatureID": "MW-1001"},
               "mitre": {"technique": {"name": "OS Credential Dumping",
                                       "externalId": "T1003.007"}}},
}
