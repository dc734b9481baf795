"""Two machines on one: a Ray head and a worker node in network namespaces of their own.

The two namespaces are joined by a veth pair with private addresses, so that the nodes
talk over a network as two machines do, and nothing leaves them. Each node runs in a
PID namespace of its own (killing its first process kills the whole node, as pulling a
machine's plug does); the worker node also has a mount namespace in which empty tmpfs
hide the runs directory and the Ray temp directories: it cannot see the driver's disk.

The driver (`league ...`) runs in the head's network namespace, as on the head machine.
Needs root (network namespaces): `available()` says why not. Used by
`tests/e2e/test_cluster.py` and `bench/cluster.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT = 6379


def processes_naming(marks: tuple[str, ...]) -> dict[int, str]:
    """The processes (pid: command line) whose command line names one of `marks`."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if any(mark in line for mark in marks):
                found[int(cmdline.parent.name)] = line.strip()
    return found


_WAIT_FOR_NODES = """
import json, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False)
want = int(sys.argv[2])
for _ in range(600):
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) == want and ray.cluster_resources().get("CPU", 0) >= want:
        break
    time.sleep(0.1)
print(json.dumps({"alive": len(alive), "cpus": ray.cluster_resources().get("CPU", 0)}))
"""

_ACTORS = """
import json, sys, ray
from ray._private.state import actors  # the GCS actor table, dead actors included
ray.init(address=sys.argv[1], log_to_driver=False)
print(json.dumps([
    {"class": a["ActorClassName"], "ip": a["Address"]["IPAddress"], "state": a["State"]}
    for a in actors().values()
]))
"""


def available() -> str | None:
    """None if this machine can build the cluster, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)


class Cluster:
    """A Ray head and a worker node in two network namespaces, with `cpus` CPUs each
    (a worker node of 0 CPUs is not started: one machine, for comparison).

    `hide`: directories the worker node must not see (the runs directory).
    """

    def __init__(self, hide: list[Path], *, cpus: tuple[int, int] = (1, 1)) -> None:
        tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
        self.head_ns, self.node_ns = f"lg-head-{tag}", f"lg-node-{tag}"
        subnet = f"10.{200 + os.getpid() % 50}.{secrets.randbelow(250)}"
        self.head_ip, self.node_ip = f"{subnet}.1", f"{subnet}.2"
        self.address = f"{self.head_ip}:{PORT}"
        self.hide = [Path(p) for p in hide]
        self.cpus = cpus
        self.temp_dir = Path(tempfile.mkdtemp(prefix="lgc-", dir="/tmp"))  # short: socket paths
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            # Token authentication, as a cluster on a real network should have.
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16),
            # Notice a dead node in about 3 s rather than 15 or more.
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        }
        self.head: subprocess.Popen | None = None
        self.node: subprocess.Popen | None = None
        self._veth = (f"lgh{tag}"[:15], f"lgn{tag}"[:15])
        try:
            self._network()
            self._start_head()
            if cpus[1]:
                self.start_node()
        except BaseException:
            self.close()
            raise

    def _network(self) -> None:
        veth_head, veth_node = self._veth
        _sh("ip", "netns", "add", self.head_ns)
        _sh("ip", "netns", "add", self.node_ns)
        _sh("ip", "link", "add", veth_head, "type", "veth", "peer", "name", veth_node)
        for ns, dev, ip in (
            (self.head_ns, veth_head, self.head_ip),
            (self.node_ns, veth_node, self.node_ip),
        ):
            _sh("ip", "link", "set", dev, "netns", ns)
            _sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            _sh("ip", "-n", ns, "link", "set", dev, "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _ray(self) -> str:
        return str(Path(sys.executable).parent / "ray")

    def _in_ns(self, ns: str, script: str) -> list[str]:
        """Run `script` (sh) in namespace `ns`, in a PID and mount namespace of its own."""
        return [
            "ip", "netns", "exec", ns,
            "unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
            "sh", "-c", script,
        ]  # fmt: skip

    def _start_head(self) -> None:
        ray = self._ray()
        self.head = subprocess.Popen(
            self._in_ns(
                self.head_ns,
                f"exec {ray} start --head --block --port={PORT} --node-ip-address={self.head_ip} "
                f"--num-cpus={self.cpus[0]} --include-dashboard=false --disable-usage-stats "
                f"--temp-dir={self.temp_dir}",
            ),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_for_nodes(1)

    def start_node(self) -> None:
        """Start the worker node (again, after `kill_node`) and wait until it has joined."""
        ray = self._ray()
        hidden = [*self.hide, self.temp_dir, Path("/tmp/ray")]
        mounts = " && ".join(f"mkdir -p {d} && mount -t tmpfs lg-hidden {d}" for d in hidden)
        self.node = subprocess.Popen(
            self._in_ns(
                self.node_ns,
                f"{mounts} && exec {ray} start --block --address={self.address} "
                f"--node-ip-address={self.node_ip} --num-cpus={self.cpus[1]} "
                "--disable-usage-stats",
            ),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_for_nodes(2)

    def kill_node(self) -> None:
        """Pull the worker node's plug: every process of it dies at once."""
        if self.node is not None and self.node.poll() is None:
            self.node.send_signal(signal.SIGKILL)
            self.node.wait(timeout=30)
        self.node = None

    def wait_for_nodes(self, n: int) -> dict:
        """Wait until `n` nodes are alive with their CPUs (up to 60 s); return the count."""
        out = self.python(_WAIT_FOR_NODES, self.address, str(n))
        state = json.loads(out.stdout.strip().splitlines()[-1])
        if state["alive"] != n:
            raise RuntimeError(f"the cluster has {state['alive']} nodes alive, not {n}")
        return state

    def actors(self) -> list[dict]:
        """Every actor the cluster has had: its class, node address and state."""
        return json.loads(self.python(_ACTORS, self.address).stdout.strip().splitlines()[-1])

    def python(self, script: str, *args: str) -> subprocess.CompletedProcess:
        """Run a Python script on the head machine."""
        return self.run([sys.executable, "-c", script, *args], timeout=120)

    def league(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `league ARGS` on the head machine, as its user would."""
        proc = self.run([sys.executable, "-m", "league", *args], timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"league {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def popen_league(self, *args: str) -> subprocess.Popen:
        """Start `league ARGS` on the head machine in the background."""
        return subprocess.Popen(
            ["ip", "netns", "exec", self.head_ns, sys.executable, "-m", "league", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, cmd: list[str], *, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.head_ns, *cmd],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def left_running(self) -> list[str]:
        """The command lines of processes of this cluster still running (none after
        `close`): every Ray process names the head's address or the temp directory."""
        marks = (self.address, str(self.temp_dir), self.head_ns, self.node_ns)
        return list(processes_naming(marks).values())

    def close(self) -> None:
        """Stop both nodes (every process in their namespaces) and delete the namespaces."""
        self.kill_node()
        if self.head is not None and self.head.poll() is None:
            self.head.send_signal(signal.SIGKILL)
            self.head.wait(timeout=30)
        for ns in (self.head_ns, self.node_ns):
            for _ in range(100):  # a driver still leaving
                out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
                if not out.stdout.split():
                    break
                for pid in out.stdout.split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                time.sleep(0.1)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
