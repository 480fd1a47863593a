# SPDX-License-Identifier: MIT
"""`kumo-agent sensors`: the agent's sensor sources end to end.

A real BMC simulator (OpenIPMI's ipmi_sim on a free loopback UDP port,
with SDRs compiled by sdrcomp) is read through the real ipmitool: values,
units and contexts come out right, a value changed on the BMC shows up in
the next poll, and when the BMC dies its sensors turn "missing" with a
reason while the last good value is kept. A written sysfs/proc tree checks
hwmon and RAPL discovery, and on this machine (which may have no hwmon at
all) the default discovery still reports CPU use from /proc.

The command is $KUMO_SENSORS_CMD when set (a command line that already
ends in "sensors"), else "$KUMO_BUILD/kumo-agent sensors". Everything a
test starts is killed and every file it writes removed, also on failure.
"""
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import AGENT, SLOW

IPMI_TOOLS = ("ipmi_sim", "ipmitool", "sdrcomp")
USER, PASSWORD = "kumo", "s3cret-Pw"


def sensors_cmd(*args):
    base = os.environ.get("KUMO_SENSORS_CMD")
    cmd = shlex.split(base) if base else [AGENT, "sensors"]
    return cmd + list(args)


def run_sensors(*args, timeout=20):
    p = subprocess.run(sensors_cmd(*args), capture_output=True, text=True,
                       timeout=timeout * SLOW)
    return p


def readings(*args):
    p = run_sensors(*args, "--json")
    assert p.returncode == 0, p.stderr
    return {r["id"]: r for r in json.loads(p.stdout)}


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


# --- a BMC: ipmi_sim --------------------------------------------------------

# sensor number, IPMI sensor type, base unit (IPMI unit code), M, R exponent,
# SDR name, raw value: reading = raw * M * 10^R
BMC_SENSORS = [
    (1, "Temperature", "degrees_C", 1, 0, "Coolant Temp", 42),   # 42 degrees C
    (2, "4", "18", 50, 0, "Fan1", 60),                           # 3000 RPM
    (3, "Other_Units_Based_Sensor", "Watts", 4, 0, "PSU Power", 50),  # 200 W
    (4, "Voltage", "Volts", 5, -2, "Rail 12V", 241),             # 12.05 V
]
IPMI_TYPE_CODES = {"Temperature": 0x01, "Voltage": 0x02, "4": 0x04,
                   "Other_Units_Based_Sensor": 0x0b}


def sdr_text():
    out = []
    for num, stype, unit, m, rexp, name, _ in BMC_SENSORS:
        out.append("""sdr type 1
    sensor_owner_id 0x20
    sensor_owner_lun 0
    channel_number 0
    sensor_number %d
    entity_id system_board
    entity_instance 1
    sensor_type %s
    init_scanning true
    init_sensor_type true
    default_sensor_scan_on true
    event_reading_type_code 1
    analog_data_format unsigned
    rate_unit none
    modifier_unit none
    percentage false
    base_unit %s
    modifier_unit_code unspecified
    linearization linear
    m %d
    tolerance 0
    b 0
    accuracy 1
    accuracy_exp 0
    sensor_direction input
    r_exp %d
    b_exp 0
    sensor_maximum 255
    sensor_minimum 0
    id_string "%s"
endsdr
""" % (num, stype, unit, m, rexp, name))
    return "".join(out)


def sdr_records(raw):
    """Splits sdrcomp -r output into records (5-byte header, length at 4)."""
    recs, i = [], 0
    while i < len(raw):
        n = raw[i + 4] + 5
        recs.append(raw[i:i + n])
        i += n
    return recs


class Bmc:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kumo-bmc-")
        self.port = free_port(socket.SOCK_DGRAM)
        self.console = free_port()
        self.proc = None
        self.pwfile = os.path.join(self.dir, "ipmi.pw")
        write(self.pwfile, PASSWORD, 0o600)

    def start(self):
        write(os.path.join(self.dir, "bmc.sdrs"), sdr_text())
        raw = subprocess.run(["sdrcomp", "-r", os.path.join(self.dir, "bmc.sdrs")],
                             capture_output=True, check=True).stdout
        cmds = ["mc_setbmc 0x20",
                "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02",
                "sel_enable 0x20 50 0x0a"]
        cmds += ["main_sdr_add 0x20 " + " ".join("0x%02x" % b for b in rec)
                 for rec in sdr_records(raw)]
        for num, stype, _, _, _, _, value in BMC_SENSORS:
            cmds.append("sensor_add 0x20 0 %d 0x%02x 0x01" % (num, IPMI_TYPE_CODES[stype]))
            cmds.append("sensor_set_value 0x20 0 %d %d 0" % (num, value))
        cmds.append("mc_enable 0x20")
        write(os.path.join(self.dir, "bmc.emu"), "\n".join(cmds) + "\n")
        write(os.path.join(self.dir, "lan.conf"), """name "kumotest"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  user 2 true "%s" "%s" admin 10 md5
console 127.0.0.1 %d
""" % (self.port, USER, PASSWORD, self.console), 0o600)
        os.makedirs(os.path.join(self.dir, "state"))
        self.proc = subprocess.Popen(
            ["ipmi_sim", "-c", os.path.join(self.dir, "lan.conf"),
             "-f", os.path.join(self.dir, "bmc.emu"), "-s", os.path.join(self.dir, "state"),
             "-n"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline:
            assert self.proc.poll() is None, "ipmi_sim exited"
            p = subprocess.run(self.ipmitool("sdr", "elist", "full"), capture_output=True,
                               text=True, timeout=10)
            if p.returncode == 0 and "Coolant Temp" in p.stdout:
                return
            time.sleep(0.2)
        raise AssertionError("ipmi_sim did not answer")

    def ipmitool(self, *args):
        return ["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p",
                str(self.port), "-U", USER, "-f", self.pwfile, "-N", "1", "-R", "1"] + list(args)

    def command(self, line):
        """Runs an emulator command on ipmi_sim's console."""
        with socket.create_connection(("127.0.0.1", self.console), timeout=5) as s:
            s.recv(256)  # telnet options and the prompt
            s.sendall(line.encode() + b"\n")
            time.sleep(0.3)
            s.recv(4096)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def config(self, interval=1, timeout=5):
        path = os.path.join(self.dir, "agent.conf")
        write(path, """[agent]
name = test

[ipmi]
host = 127.0.0.1
port = %d
user = %s
password_file = %s
interface = lanplus
interval = %d
timeout = %d
retries = 1

[sensor CoolantTemp]
source = ipmi:Coolant Temp
name = Coolant temperature
type = Temperature
context = LiquidInlet
upper_critical = 60
upper_caution = 55

[sensor Fan1]
source = ipmi:Fan1
type = Rotational
context = Fan

[sensor PSUPower]
source = ipmi:PSU Power
type = Power
context = PowerSupply

[sensor Rail12V]
source = ipmi:Rail 12V
type = Voltage

[sensor NoSuch]
source = ipmi:No Such Sensor
type = Temperature

[sensor CPUUtil]
source = proc:cpu_util
""" % (self.port, USER, self.pwfile, interval, timeout), 0o600)
        return path


@pytest.fixture
def bmc():
    missing = [t for t in IPMI_TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip("not installed: %s (Debian: openipmi, ipmitool)" % ", ".join(missing))
    b = Bmc()
    try:
        b.start()
        yield b
    finally:
        b.cleanup()


IPMI_IDS = ("CoolantTemp", "Fan1", "PSUPower", "Rail12V")


def test_ipmi_sensors_read_from_ipmi_sim(bmc):
    r = readings("--config", bmc.config())
    want = {"CoolantTemp": (42.0, "Cel", "Temperature", "LiquidInlet"),
            "Fan1": (3000.0, "{rev}/min", "Rotational", "Fan"),
            "PSUPower": (200.0, "W", "Power", "PowerSupply"),
            "Rail12V": (12.05, "V", "Voltage", "SystemBoard")}
    for sid, (value, unit, typ, context) in want.items():
        assert r[sid]["status"] == "ok", r[sid]
        assert r[sid]["value"] == pytest.approx(value), r[sid]
        assert (r[sid]["unit"], r[sid]["type"], r[sid]["context"]) == (unit, typ, context)
        assert r[sid]["source"].startswith("ipmi:")
    assert r["CoolantTemp"]["name"] == "Coolant temperature"
    assert r["CoolantTemp"]["thresholds"] == {"UpperCritical": 60, "UpperCaution": 55}
    assert r["NoSuch"]["status"] == "missing"
    assert "no sensor named No Such Sensor" in r["NoSuch"]["reason"]
    assert r["NoSuch"]["value"] is None
    assert r["CPUUtil"]["status"] == "ok"

    # the table form says the same
    p = run_sensors("--config", bmc.config())
    assert p.returncode == 0, p.stderr
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("CoolantTemp ")][0]
    assert "42.00" in line and "Cel" in line and " ok " in line


def next_round(proc, deadline):
    """The next JSON line of a --watch --json run."""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("sensors --watch ended early: %s" % proc.stderr.read())
        return {x["id"]: x for x in json.loads(line)}
    raise AssertionError("no output in time")


def wait_round(proc, pred, what, timeout=15):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = next_round(proc, deadline)
        if pred(last):
            return last
    raise AssertionError("timed out waiting for %s; last: %r" % (what, last))


def test_ipmi_watch_follows_bmc_and_goes_missing_when_it_dies(bmc):
    proc = subprocess.Popen(sensors_cmd("--config", bmc.config(interval=1, timeout=4),
                                        "--json", "--watch", "0.5"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_round(proc, lambda r: r["CoolantTemp"]["status"] == "ok"
                   and r["CoolantTemp"]["value"] == 42, "the first reading")

        # a value changed on the BMC shows up
        bmc.command("sensor_set_value 0x20 0 1 57 0")
        r = wait_round(proc, lambda r: r["CoolantTemp"]["value"] == 57, "the new value")
        assert r["CoolantTemp"]["health"] == "Warning"  # over UpperCaution 55

        # the BMC dies: missing, with a reason, the last good value kept
        bmc.kill()
        r = wait_round(proc, lambda r: all(r[i]["status"] == "missing" for i in IPMI_IDS),
                       "the IPMI sensors to go missing")
        for sid in IPMI_IDS:
            assert r[sid]["value"] is None
            assert r[sid]["reason"].startswith("BMC: "), r[sid]
        assert "Unable to establish" in r["CoolantTemp"]["reason"] or \
            "did not answer" in r["CoolantTemp"]["reason"], r["CoolantTemp"]
        assert r["CoolantTemp"]["last_good_value"] == 57
        assert r["Fan1"]["last_good_value"] == 3000
        assert r["CPUUtil"]["status"] == "ok"  # the local sources go on

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10 * SLOW) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_ipmi_dead_bmc_one_shot(bmc):
    bmc.kill()
    t0 = time.time()
    r = readings("--config", bmc.config(timeout=5))
    assert time.time() - t0 < 15 * SLOW
    for sid in IPMI_IDS:
        assert r[sid]["status"] == "missing"
        assert r[sid]["reason"].startswith("BMC: ")
        assert r[sid]["last_good_value"] is None


# --- the host's own sensors -------------------------------------------------

@pytest.fixture
def tree():
    d = tempfile.mkdtemp(prefix="kumo-sensors-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_discovery_of_hwmon_rapl_and_proc_tree(tree):
    sysfs, proc = os.path.join(tree, "sys"), os.path.join(tree, "proc")
    hw = os.path.join(sysfs, "class", "hwmon")
    write(os.path.join(hw, "hwmon0", "name"), "k10temp\n")
    write(os.path.join(hw, "hwmon0", "temp1_input"), "61250\n")
    write(os.path.join(hw, "hwmon0", "temp1_label"), "Tctl\n")
    write(os.path.join(hw, "hwmon0", "temp1_crit"), "95000\n")
    write(os.path.join(hw, "hwmon1", "name"), "it8686\n")
    write(os.path.join(hw, "hwmon1", "fan2_input"), "870\n")
    write(os.path.join(hw, "hwmon1", "power1_input"), "42000000\n")
    rapl = os.path.join(sysfs, "class", "powercap", "intel-rapl:0")
    write(os.path.join(rapl, "name"), "package-0\n")
    write(os.path.join(rapl, "energy_uj"), "123456789\n")
    write(os.path.join(rapl, "max_energy_range_uj"), "262143328850\n")
    write(os.path.join(proc, "stat"), "cpu  10 0 10 80 0 0 0 0 0 0\n")
    write(os.path.join(proc, "loadavg"), "0.42 0.30 0.20 1/50 99\n")
    write(os.path.join(proc, "meminfo"), "MemTotal: 2000 kB\nMemAvailable: 1500 kB\n")
    cfg = os.path.join(tree, "agent.conf")
    write(cfg, "[sensors]\nsysfs_root = %s\nproc_root = %s\n" % (sysfs, proc))

    r = readings("--config", cfg)
    assert r["K10tempTctl"]["value"] == pytest.approx(61.25)
    assert r["K10tempTctl"]["unit"] == "Cel"
    assert r["K10tempTctl"]["context"] == "CPU"
    assert r["K10tempTctl"]["thresholds"] == {"UpperCritical": 95}
    assert r["It8686Fan2"]["value"] == 870
    assert r["It8686Fan2"]["unit"] == "{rev}/min"
    assert r["It8686Power1"]["value"] == pytest.approx(42.0)
    assert r["It8686Power1"]["unit"] == "W"
    # the counter stands still in a written tree: 0 W, 0 J used
    assert r["CPU0Power"]["status"] == "ok" and r["CPU0Power"]["value"] == 0
    assert r["CPU0Power"]["unit"] == "W"
    assert r["CPU0Energy"]["unit"] == "J" and r["CPU0Energy"]["type"] == "EnergyJoules"
    assert r["CPULoad1"]["value"] == pytest.approx(0.42)
    assert r["MemoryUsed"]["value"] == pytest.approx(25.0)
    # /proc/stat does not move either: no CPU use can be worked out
    assert r["CPUUtil"]["status"] == "missing"
    assert "warming up" in r["CPUUtil"]["reason"]
    assert set(r) == {"K10tempTctl", "It8686Fan2", "It8686Power1", "CPU0Power", "CPU0Energy",
                      "CPUUtil", "CPULoad1", "MemoryUsed"}


def test_default_discovery_reports_cpu_use_on_this_host():
    r = readings()
    assert r["CPUUtil"]["status"] == "ok", r["CPUUtil"]
    assert 0 <= r["CPUUtil"]["value"] <= 100
    assert r["CPUUtil"]["unit"] == "%"
    assert r["CPUUtil"]["type"] == "Percent"
    assert r["MemoryUsed"]["status"] == "ok"
    assert 0 < r["MemoryUsed"]["value"] < 100
    assert r["CPULoad1"]["value"] >= 0
    # whatever hwmon and RAPL this host has reads as ok
    for x in r.values():
        if x["source"].startswith(("hwmon:", "rapl:")):
            assert x["status"] == "ok", x


def test_bad_config_is_refused(tree):
    cfg = os.path.join(tree, "agent.conf")
    write(cfg, "[sensor CoolantTemp]\nsource = model:coolant\ntype = Temperature\n"
               "uper_critical = 60\n")
    p = run_sensors("--config", cfg)
    assert p.returncode == 1
    assert "unknown key uper_critical" in p.stderr
    p = run_sensors("--watch", "0")
    assert p.returncode == 2
