"""The sensor's life: which hooks the kernel allows, nothing left in the kernel after it
closes, every lost record accounted for, filters reloaded without detaching, the LSM/fentry
open path, and the errors it starts with."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ebpf_live import LiveSensor, Needs, args, require_sensor

from memwarden.core.requirements import PathFilter
from memwarden.engine.dispatch import Engine
from memwarden.sources.ebpf import errors as E
from memwarden.sources.ebpf import hooks as H
from memwarden.sources.ebpf import layout as L
from memwarden.sources.ebpf.decode import RecordDecoder
from memwarden.sources.ebpf.filters import FilterMaps, compile_plan
from memwarden.sources.ebpf.libbpf import BpfObject, object_id
from memwarden.sources.ebpf.ringbuf import RingBufferReader
from memwarden.sources.ebpf.sensor import EbpfSensor, SensorOptions, object_path

pytestmark = pytest.mark.live

OPEN = "security_file_open"


def bpftool_has(kind: str, ident: int) -> bool:
    r = subprocess.run(["bpftool", kind, "show", "id", str(ident)], capture_output=True)
    return r.returncode == 0


def pins() -> set[str]:
    return {str(p) for p in Path("/sys/fs/bpf").rglob("*")} if Path("/sys/fs/bpf").is_dir() \
        else set()


def test_hook_mode_is_the_best_the_kernel_allows() -> None:
    require_sensor()
    with EbpfSensor(Engine([Needs([OPEN])]), SensorOptions(), err=io.StringIO()) as s:
        s.start()
        mode = s.mode
        assert mode in H.MODES
        assert s.ready_line().startswith(f"memwarden: ready (hooks: {mode}; events: ")
    better = H.MODES[:H.MODES.index(mode)]
    for m in better:  # each better mode was tried and refused, and says why
        ok, why = H.probe_mode(str(object_path()), m)
        assert not ok and why.startswith(f"{m}: ")
    assert [w.split(":")[0] for w in s.refused_modes] == list(better)
    if mode == "tracepoint":
        assert set(s.stats()["hooks_refused"].split("; ")) == set(s.refused_modes)


def test_insisting_on_a_refused_mode_is_a_clear_error() -> None:
    require_sensor()
    refused = [m for m in ("lsm", "fentry") if not H.probe_mode(str(object_path()), m)[0]]
    if not refused:
        pytest.skip("this kernel allows both lsm and fentry programs")
    s = EbpfSensor(Engine([Needs([OPEN])]), SensorOptions(hooks=refused[0]), err=io.StringIO())
    with pytest.raises(E.BpfRefused, match=f"hook mode {refused[0]} refused by this kernel"):
        s.start()


def test_nothing_is_left_in_the_kernel_after_close(tmp_path: Path) -> None:
    require_sensor()
    before = pins()
    s = EbpfSensor(Engine([Needs([OPEN, "kill", "sched_process_exit"])]), SensorOptions(),
                   err=io.StringIO())
    s.start()
    ids = s.kernel_ids()
    assert ids["programs"] and ids["maps"] and ids["links"]
    assert len(ids["links"]) == len(s.attached_programs)
    assert all(bpftool_has("prog", i) for i in ids["programs"])
    assert all(bpftool_has("link", i) for i in ids["links"])
    s.close()
    gone = time.monotonic() + 5  # maps are freed after an RCU grace period
    while any(bpftool_has("map", i) for i in ids["maps"]) and time.monotonic() < gone:
        time.sleep(0.05)
    assert not any(bpftool_has("prog", i) for i in ids["programs"])
    assert not any(bpftool_has("link", i) for i in ids["links"])
    assert not any(bpftool_has("map", i) for i in ids["maps"])
    assert pins() == before
    s.close()  # idempotent


def test_programs_verified_in_parallel_share_the_one_set_of_maps() -> None:
    """The sensor's programs verified three shares at a time: every one loads, every one
    holds the one object's maps (the same kernel maps: no share made its own ring or filters),
    and closing the object unloads them all, the other shares' too."""
    require_sensor()
    obj = BpfObject(str(object_path()))
    try:
        names = sorted(H.mode_programs("tracepoint", set(obj.program_names())))
        for name in obj.program_names():
            obj.set_autoload(name, name in names)
        obj.load(workers=3)
        maps = {object_id(obj.map(m).fd) for m in obj.map_names()}
        programs = {name: obj.program_id(name) for name in names}
        for name, ident in programs.items():
            shown = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(ident)],
                                   capture_output=True, text=True, check=True)
            held = set(json.loads(shown.stdout).get("map_ids", []))
            assert held and held <= maps, (name, held - maps)
        assert len(set(programs.values())) == len(names)
    finally:
        obj.close()
    assert not [n for n, i in programs.items() if bpftool_has("prog", i)]


def test_kernel_drops_are_counted_reported_and_injected(tmp_path: Path) -> None:
    """A 1 MiB ring buffer nobody reads, and tens of thousands of opens: the kernel counts
    every record it had no room for, per CPU; the sensor turns the count into
    memwarden_lost_events events, the engine's kernel_drops, a (rate-limited) warning and
    its stats."""
    require_sensor()
    err = io.StringIO()
    seen = []
    engine = Engine([])
    s = EbpfSensor(engine, SensorOptions(all_events=True, ring_buffer_mb=1), on_event=seen.append,
                   err=err)
    s.start()
    try:
        target = tmp_path / "f"
        target.write_bytes(b"x")
        code = ("import os, sys\n"
                "for _ in range(40000): os.close(os.open(sys.argv[1], os.O_RDONLY))\n")
        subprocess.run([sys.executable, "-c", code, str(target)], check=True, timeout=120)
        lost = s.check_drops()
        assert lost > 0
        lost_events = [e for e in seen if e.name == L.LOST_EVENTS]
        assert sum(args(e)["lost"] for e in lost_events) == lost
        assert all(0 <= args(e)["cpu"] < os.cpu_count() for e in lost_events)
        assert engine.stats.kernel_drops == lost
        assert engine.stats.events_by_name[L.LOST_EVENTS] == len(lost_events)
        assert "the kernel dropped" in err.getvalue() and "ring buffer" in err.getvalue()
        kc = s.kernel_counters()  # the host goes on opening files: counters only grow
        assert sum(kc["dropped"].values()) >= lost
        assert kc["delivered"][OPEN] + kc["dropped"][OPEN] <= kc["seen"][OPEN]
        # what the ring holds is still delivered in full
        assert err.getvalue().count("the kernel dropped") == 1
        s.drain()  # a final report covers the drops not warned of yet (one more line at most)
        assert len([e for e in seen if e.name == OPEN]) >= kc["delivered"][OPEN]
        warned = err.getvalue().count("the kernel dropped")
        assert warned <= 2
        # more drops within the warning interval: counted, not warned again
        subprocess.run([sys.executable, "-c", code, str(target)], check=True, timeout=120)
        assert s.check_drops() > 0
        assert err.getvalue().count("the kernel dropped") == warned
        s.check_drops()
        assert sum(s.stats()["kernel_dropped"].values()) == engine.stats.kernel_drops
    finally:
        s.close()


def test_filters_reload_without_detaching(tmp_path: Path) -> None:
    require_sensor()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_bytes(b"x")
    (b / "f").write_bytes(b"x")
    live = LiveSensor([Needs([OPEN], [PathFilter(OPEN, "prefix", f"{a}/")])]).start()
    try:
        links_before = live.sensor.kernel_ids()["links"]

        def opened(path: Path) -> int:
            r = subprocess.run(["sh", "-c", f"echo $$; exec cat {path}"], capture_output=True,
                               text=True, check=True)
            return int(r.stdout.split()[0])

        def delivered(pid: int) -> bool:
            live.settle()
            return bool(live.events_of(pid, OPEN))

        assert delivered(opened(a / "f")) and not delivered(opened(b / "f"))
        live.engine.replace_detectors([
            Needs([OPEN, "kill"], [PathFilter(OPEN, "prefix", f"{b}/")])])
        live.wait_for("the reload", lambda: live.sensor.filter_reloads >= 1)
        assert not delivered(opened(a / "f")) and delivered(opened(b / "f"))
        # the old links stayed; kill, newly needed, got its program attached
        ids = live.sensor.kernel_ids()
        assert set(links_before) < set(ids["links"])
        assert "mw_tp_exit_kill" in live.sensor.attached_programs
        victim = subprocess.Popen(["sleep", "30"])
        victim.kill()
        victim.wait()
        live.wait_for("the kill", lambda: [e for e in live.events_of(os.getpid(), "kill")
                                          if args(e)["pid"] == victim.pid])
        # the trie holds the new plan's entries only
        fwd = live.sensor._obj.map("mw_fwd")
        keys = [L.LPM_KEY.unpack(k) for k in fwd.iter_keys()]
        assert [d[: bits // 8] for bits, d in keys] == [f"{b}/".encode()]
    finally:
        live.stop()


def _fs_type(path: Path) -> str:
    best, kind = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mnt, fstype = line.split()[1], line.split()[2]
        if (str(path) + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) > len(best):
            best, kind = mnt, fstype
    return kind


@pytest.fixture
def ext4_dir(tmp_path: Path):
    """A directory on ext4: tmp_path if it is, else a loop-mounted ext4 image."""
    if _fs_type(tmp_path) == "ext4":
        yield tmp_path
        return
    image, mnt = tmp_path / "ext4.img", tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_the_lsm_and_fentry_open_path(ext4_dir: Path) -> None:
    """lsm/file_open and fentry/security_file_open share their code with a program on a
    tracepoint that also passes a struct file (fsync of an ext4 file reaches it): loaded here,
    it proves that code verifies and works even where the kernel refuses LSM and fentry
    programs."""
    require_sensor()
    watched = ext4_dir / "watched"
    watched.mkdir()
    hit, miss = watched / "core.1", ext4_dir / "core.1"
    for p in (hit, miss):
        p.write_bytes(b"x")
    plan = compile_plan([OPEN], {OPEN: _pathset([PathFilter(OPEN, "prefix", f"{watched}/")])})
    test_object = object_path(H.TEST_OBJECT, env="MEMWARDEN_BPF_TEST_OBJECT")
    if not test_object.is_file():
        pytest.skip(f"{test_object} missing: bash scripts/build-bpf.sh")
    obj = BpfObject(str(test_object))
    try:
        for name in obj.program_names():
            obj.set_autoload(name, name in H.TEST_PROGRAMS)
        obj.set_max_entries("mw_events", 1 << 20)
        obj.load()
        FilterMaps(obj.map("mw_config"), obj.map("mw_state"), obj.map("mw_fwd"),
                   obj.map("mw_rev")).apply(plan)
        ring = RingBufferReader(obj.map("mw_events").fd, 1 << 20)
        link = obj.attach("mw_test_file_hook")
        try:
            for p in (hit, miss):
                fd = os.open(p, os.O_RDWR)
                os.write(fd, b"y")
                os.fsync(fd)
                os.close(fd)
            decoder = RecordDecoder()
            records = []

            def handle(data, batch):
                for off, size in batch:
                    flags = L.HEADER.unpack_from(data, off)[6]
                    records.append((flags, decoder.decode(data, off, size)))

            ring.consume(handle)
        finally:
            link.destroy()
            ring.close()
    finally:
        obj.close()
    mine = [(f, e) for f, e in records if e.host_pid == os.getpid()]
    assert [args(e)["pathname"] for _, e in mine] == [str(hit)]
    flags, ev = mine[0]
    assert flags & L.F_LSM_HOOK
    assert ev.data["syscall"] == "fsync" and ev.data["returnValue"] == 0
    assert args(ev)["flags"] & os.O_ACCMODE == os.O_RDWR
    assert args(ev)["inode"] == hit.stat().st_ino


def _pathset(filters):
    from memwarden.core.pathset import PathSet
    return PathSet(filters)


def test_missing_object_names_the_build_command(tmp_path: Path, monkeypatch) -> None:
    require_sensor()
    monkeypatch.setenv("MEMWARDEN_BPF_OBJECT", str(tmp_path / "nowhere.bpf.o"))
    s = EbpfSensor(Engine([Needs([OPEN])]), SensorOptions(), err=io.StringIO())
    with pytest.raises(E.ObjectMissing, match="build it with bash scripts/build-bpf.sh"):
        s.start()


def test_unprivileged_is_a_clear_error() -> None:
    require_sensor()
    code = ("import io, sys\n"
            "from memwarden.engine.dispatch import Engine\n"
            "from memwarden.sources.ebpf.sensor import EbpfSensor\n"
            "from memwarden.sources.ebpf.errors import NotPrivileged\n"
            "try:\n"
            "    EbpfSensor(Engine([]), err=io.StringIO()).start()\n"
            "except NotPrivileged as exc:\n"
            "    print(exc); sys.exit(3)\n")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 3, r.stdout + r.stderr
    assert "needs root" in r.stdout


def test_the_kernel_tries_answer_as_the_plan_says() -> None:
    """Generated plans written into the real LPM tries (through two reloads, so both slots and
    the clean-up are exercised); the kernel's own longest-prefix lookups, made from user space
    with the key the probe builds, give the kinds the plan computes for every path."""
    import random

    from memwarden.core.pathset import PathSet
    from memwarden.sources.ebpf.filters import _lpm_key

    require_sensor()
    obj = BpfObject(str(object_path()))
    try:
        for name in obj.program_names():
            obj.set_autoload(name, False)
        obj.load()
        maps = FilterMaps(obj.map("mw_config"), obj.map("mw_state"), obj.map("mw_fwd"),
                          obj.map("mw_rev"))
        rng = random.Random(7)
        parts = ["proc", "kcore", "var", "lib", "coredump", "mem", "a", "ab"]

        def path() -> str:
            return "/" + "/".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))

        for round_ in range(3):
            names = ["security_file_open", "security_inode_unlink"]
            sets = {}
            for n in names:
                fs = []
                for _ in range(rng.randint(1, 6)):
                    kind = rng.choice(("exact", "prefix", "suffix", "basename"))
                    value = path() if kind != "basename" else rng.choice(parts)
                    if kind == "prefix" and rng.random() < 0.5:
                        value += "/"
                    fs.append(PathFilter(n, kind, value))
                sets[n] = PathSet(fs)
            plan = compile_plan(names, sets)
            maps.apply(plan)
            slot = maps.active
            for p in [path() for _ in range(200)]:
                data = p.encode()
                fwd_key = data + b"\0" if len(data) < L.LPM_DATA else data[:L.LPM_DATA]
                kinds = 0
                v = obj.map("mw_fwd").lookup(_lpm_key(fwd_key))
                if v is not None:
                    kinds |= L.TRIE_VALUE.unpack(v)[slot]
                if plan.rev_len:
                    v = obj.map("mw_rev").lookup(_lpm_key(data[::-1][:plan.rev_len]))
                    if v is not None:
                        kinds |= L.TRIE_VALUE.unpack(v)[slot]
                assert kinds == plan.trie_kinds(p), (round_, p, sets)
                for n in names:
                    assert bool(kinds & (1 << L.EVENT_KIND[n])) == sets[n].matches(p), (n, p)
            held = {L.LPM_KEY.unpack(k)[1][:L.LPM_KEY.unpack(k)[0] // 8]
                    for k in obj.map("mw_fwd").iter_keys()}
            assert held == set(plan.fwd)
    finally:
        obj.close()
