# SPDX-License-Identifier: MIT
"""The thermal controller against a plain on/off thermostat over the three
simulated 24-hour ambient profiles (issue 5): desert-day (a desert summer),
alpine-winter, temperate-day. Both policies run in the same run, through the
same runner and box model (`kumo-agent thermal-sim PROFILE` and `...
--thermostat`: all fans at 100% above 45 C until below 40 C, heater on below
5 C until above 10 C, no CPU cap, no VM shutdown).

Printed per profile: fan Wh, heater Wh, their total, the time the coolant
spent below and above the 5..50 C band (the true coolant, every simulated
second), its range, and the saving against the thermostat. The target:
at least 30% less fan plus heater energy, and no more time outside the band
than the thermostat.

Then the reference arithmetic, from the same run's inputs (air, sun and the
server's heat, sampled every second) and the box's default constants
(docs/THERMAL.md): for each profile the least time above the band any
policy can have (every fan at full all day: the coolant can be no lower at
any moment), and the least heater energy any policy that keeps the band can
spend (the heater holding the coolant exactly at 5.0 C whenever the box
would fall below it, nothing more). Where the target is out of reach these
are why.

usage: thermal.py [PROFILE...]   (default: the three profiles)
KUMO_BUILD names the build directory (default ../build)."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("KUMO_BUILD") or os.path.join(HERE, "..", "build")
AGENT = os.path.join(BUILD, "kumo-agent")
PROFILES = sys.argv[1:] or ["desert-day", "alpine-winter", "temperate-day"]
TARGET = 0.30

# The box's defaults (thermal_config.c; docs/THERMAL.md section 1).
C_J_K, G_NAT, FANS, G_FAN, P_FAN, SUN_W, BAND = 120000.0, 15.0, 4, 12.0, 12.0, 150.0, (5.0, 50.0)


def run(profile, thermostat, every=0):
    args = [AGENT, "thermal-sim", profile, "--format", "jsonl", "--no-log",
            "--every", str(every)] + (["--thermostat"] if thermostat else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    samples, summary = [], None
    for line in out.splitlines():
        o = json.loads(line)
        if o.get("type") == "sample":
            samples.append(o)
        elif o.get("type") == "summary":
            summary = o
    return summary, samples


def least_time_above(samples, t0):
    """Every fan at full all day from the run's start: seconds above the band."""
    t, above = t0, 0
    for s in samples:
        q = s["server_w"] + SUN_W * s["solar"]
        t += (q - (G_NAT + FANS * G_FAN) * (t - s["ambient_c"])) / C_J_K
        above += t > BAND[1]
    return above


def least_heater_wh(samples, t0):
    """The heater holding exactly the band's floor whenever the box would
    fall under it (at most its 400 W): Wh."""
    t, e = t0, 0.0
    for s in samples:
        q = s["server_w"] + SUN_W * s["solar"]
        h = 0.0
        if t <= BAND[0]:
            h = min(400.0, max(0.0, G_NAT * (t - s["ambient_c"]) - q))
        t += (q + h - G_NAT * (t - s["ambient_c"])) / C_J_K
        e += h
    return e / 3600


def fmt_s(s):
    return "%d s" % s if s < 3600 else "%d s (%.2f h)" % (s, s / 3600.0)


def main():
    print("Thermal controller vs plain on/off thermostat, 24-hour profiles "
          "(kumo-agent thermal-sim, same box, same run)")
    print("thermostat: all fans 100%% above 45 C until below 40 C; heater on below 5 C "
          "until above 10 C.  target: >= %d%% less fan+heater energy, no more time out "
          "of the band (5..50 C)." % (TARGET * 100))
    refs = []
    head = "%-14s %-11s %9s %10s %9s %12s %20s  %s" % (
        "profile", "policy", "fans Wh", "heater Wh", "total Wh", "below band",
        "above band", "coolant min..max")
    print("\n" + head + "\n" + "-" * len(head))
    ok_all = True
    for p in PROFILES:
        ts, samples = run(p, True, every=1)
        ctl, _ = run(p, False)
        for name, r in (("thermostat", ts), ("controller", ctl)):
            print("%-14s %-11s %9.1f %10.1f %9.1f %12s %20s  %.2f..%.2f C" % (
                p if name == "thermostat" else "", name, r["fan_wh"], r["heater_wh"],
                r["fan_wh"] + r["heater_wh"], fmt_s(r["below_band_s"]),
                fmt_s(r["above_band_s"]), r["coolant_min_c"], r["coolant_max_c"]))
        e_ts = ts["fan_wh"] + ts["heater_wh"]
        e_ctl = ctl["fan_wh"] + ctl["heater_wh"]
        saving = 1 - e_ctl / e_ts if e_ts > 0 else 0.0
        out_ts = ts["below_band_s"] + ts["above_band_s"]
        out_ctl = ctl["below_band_s"] + ctl["above_band_s"]
        energy_ok, band_ok = saving >= TARGET, out_ctl <= out_ts
        ok_all &= energy_ok and band_ok
        print("%-14s saving %.1f%% (%s), time out of the band %d s vs %d s (%s)" % (
            "", saving * 100, "met" if energy_ok else "NOT met", out_ctl, out_ts,
            "met" if band_ok else "NOT met"))
        t0 = samples[0]["coolant_c"] if samples else 0
        refs.append((p, e_ts, least_time_above(samples, t0), least_heater_wh(samples, t0),
                     ts, ctl))
    print("\nreference arithmetic (same inputs, default box, Euler 1 s):")
    for p, e_ts, above_min, heat_min, ts, ctl in refs:
        print("  %-14s least time above the band (every fan at full all day): %s; "
              "thermostat %s, controller %s" % (p, fmt_s(above_min), fmt_s(ts["above_band_s"]),
                                                fmt_s(ctl["above_band_s"])))
        if heat_min > 1:
            print("  %-14s least heater energy that keeps >= 5 C (held exactly at 5.0 C): "
                  "%.0f Wh = %.1f%% under the thermostat's %.0f Wh" % (
                      "", heat_min, (1 - (heat_min + ctl["fan_wh"]) / e_ts) * 100, e_ts))
    print("\nall targets met" if ok_all else "\nnot every target met (see above)")


if __name__ == "__main__":
    main()
