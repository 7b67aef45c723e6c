#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kvmm's benchmark suite: every benchmark in bench/bm_*.py, for kvmm and for
qemu-system-x86_64 with KVM, on this machine, in one run. Systems are
interleaved within each repetition (kvmm, QEMU -M pc, QEMU -M microvm, kvmm,
...) so that machine noise hits all alike. Prints one table (median, min-max
spread, the ratio kvmm/QEMU, and the target from docs/performance.md where
there is one), writes results.csv and results.json, and plots the headline rows
with gnuplot when it is installed. Nothing here is a pass/fail test, except
--smoke, which runs everything once with tiny sizes and fails when a row has no
kvmm numbers.

usage: bench/run.py [--build build] [--reps 5] [--smoke] [--only REGEX] [--no-qemu]
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bm_blk  # noqa: E402
import bm_create  # noqa: E402
import bm_density  # noqa: E402
import bm_exits  # noqa: E402
import bm_firmware  # noqa: E402
import bm_memory  # noqa: E402
import bm_snapshot  # noqa: E402
import bm_startup  # noqa: E402
from common import QEMU_VARIANTS, BenchError, find_qemu, kvmm_system, qemu_system  # noqa: E402

MODULES = [bm_startup, bm_memory, bm_exits, bm_density, bm_create, bm_snapshot, bm_blk,
           bm_firmware]
SYSTEM_ORDER = ["kvmm"] + [f"qemu-{v}" for v in QEMU_VARIANTS]
PLOTS = {  # plot key -> (file stem, title, y label, log scale, value scale)
    "startup": ("startup", "Start-up (median)", "ms, log scale (lower is better)", True, 1.0),
    "memory": ("memory", "Monitor memory beyond guest RAM (median)",
               "MiB (lower is better)", False, 1.0),
    "exits": ("exits", "Exit round trips from guest ring 3 (median)",
              "thousand per second, log scale (higher is better)", True, 1e-3),
}


class Context:
    def __init__(self, build, smoke):
        self.build = build
        self.smoke = smoke
        self.details = []
        self.rep = 0

    def guest(self, name):
        return os.path.join(self.build, "guest", f"{name}.elf")

    def detail(self, system, key, data):
        self.details.append({"rep": self.rep, "system": system.name, "key": key, **data})


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if v == int(v):
        return str(int(v))
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def stats(samples):
    if not samples:
        return None
    return {"n": len(samples), "median": statistics.median(samples),
            "min": min(samples), "max": max(samples)}


def target_met(ratio, target):
    op, want = target
    return {"<=": ratio <= want, "<": ratio < want, ">=": ratio >= want}[op]


def summarize(row):
    """Adds 'summary': per system n/median/min/max, and for QEMU the ratio
    kvmm/QEMU and whether the target is met. A row's 'limit' (op, value) is an
    absolute target for kvmm's median, in the row's unit."""
    summ = {}
    k = stats(row["kvmm"])
    summ["kvmm"] = k
    if k and row.get("limit"):
        op, want = row["limit"]
        k["target"] = f"{op}{want:g} {row['unit']}"
        k["met"] = target_met(k["median"], row["limit"])
    for v, samples in row["qemu"].items():
        s = stats(samples)
        if s and k and s["median"]:
            s["ratio"] = k["median"] / s["median"]
            t = row.get("target", {}).get(f"qemu-{v}")
            if t:
                s["target"] = f"{t[0]}{t[1]:g}"
                s["met"] = target_met(s["ratio"], t)
        summ[f"qemu-{v}"] = s
    row["summary"] = summ


def cell(row, system):
    s = row["summary"].get(system)
    if s:
        return f"{fmt(s['median'])} [{fmt(s['min'])}-{fmt(s['max'])}]"
    if system in row["na"]:
        return row["na"][system]
    if row["errors"].get(system):
        return "failed: " + row["errors"][system][-1][:60]
    return "n/a"


def print_table(rows, reps, out=sys.stdout):
    w = max(len(r["name"]) for r in rows)
    print(f"\nmedian [min-max] of {reps} interleaved run(s); ratio = kvmm/QEMU "
          "(lower is better for 'lower' rows, higher for 'higher' rows)", file=out)
    print(f"{'benchmark':{w}}  {'unit':5}  {'kvmm':24}  {'QEMU':36}  {'kvmm/QEMU':9}  target",
          file=out)
    print("-" * (w + 96), file=out)
    for r in rows:
        first = True
        for v in r["qemu_variants"]:
            sysname = f"qemu-{v}"
            s = r["summary"].get(sysname)
            ratio = fmt(s["ratio"]) if s and "ratio" in s else "-"
            tgt = ""
            if s and "target" in s:
                tgt = f"{s['target']}: {'met' if s['met'] else 'MISSED'}"
            k = r["summary"].get("kvmm")
            if first and k and "target" in k:
                tgt = (tgt + "; " if tgt else "") + \
                    f"kvmm {k['target']}: {'met' if k['met'] else 'MISSED'}"
            q = f"-M {v:8} {cell(r, sysname)}"
            if first:
                line = f"{r['name']:{w}}  {r['unit']:5}  {cell(r, 'kvmm'):24}  "
            else:
                line = f"{'':{w}}  {'':5}  {'':24}  "
            print(f"{line}{q:36}  {ratio:9}  {tgt}".rstrip(), file=out)
            first = False
    print(file=out)


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "unit", "better", "system", "n", "median", "min", "max",
                     "ratio_kvmm_over", "target", "target_met", "note"])
        for r in rows:
            for sysname in ["kvmm"] + [f"qemu-{v}" for v in r["qemu_variants"]]:
                s = r["summary"].get(sysname)
                note = r["na"].get(sysname, "")
                if not s and not note:
                    note = "; ".join(r["errors"].get(sysname, [])) or "not measured"
                w.writerow([r["id"], r["name"], r["unit"], r["better"], sysname,
                            s["n"] if s else 0,
                            *(f"{s[k]:.6g}" if s else "" for k in ("median", "min", "max")),
                            f"{s['ratio']:.4g}" if s and "ratio" in s else "",
                            s.get("target", "") if s else "",
                            ("yes" if s["met"] else "no") if s and "met" in s else "",
                            note])


def markdown(path):
    """The table of a results.json as Markdown, for docs/performance.md."""
    with open(path) as f:
        res = json.load(f)
    m = res["meta"]
    out = [f"{m['date'][:10]}, {m['cpus']} CPUs ({m['cpu']}), kernel {m['kernel']}, KVM: "
           f"{m['kvm']}, {m['qemu']}; median [min-max] of {m['reps']} interleaved runs "
           f"(density and snapshot: at most 3, snapshot of 4 GiB: 1); load average "
           f"{m['loadavg_before'][0]:.1f} at the start.", "",
           "| benchmark | unit | kvmm | QEMU -M pc | QEMU -M microvm | kvmm/pc | kvmm/microvm |",
           "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        cells, ratios = [], []
        for sysname in SYSTEM_ORDER:
            s = r["summary"].get(sysname)
            if s:
                cells.append(f"{fmt(s['median'])} [{fmt(s['min'])}-{fmt(s['max'])}]")
                if sysname == "kvmm" and "target" in s:
                    cells[-1] += f" ({s['target']}: {'met' if s['met'] else '**missed**'})"
            else:
                na = r["na"].get(sysname, "n/a")
                cells.append("n/a" if na.startswith("n/a") else na.split(" (")[0])
            if sysname != "kvmm":
                if s and "ratio" in s:
                    t = f" ({s['target']}: {'met' if s['met'] else '**missed**'})" \
                        if "target" in s else ""
                    ratios.append(f"{fmt(s['ratio'])}{t}")
                else:
                    ratios.append("-")
        arrow = "lower is better" if r["better"] == "lower" else "higher is better"
        out.append(f"| {r['name']} | {r['unit']}, {arrow} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(out)


def host_info(qemu):
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f
                        if ln.startswith("model name")), None)
    except OSError:
        pass
    pvm = os.path.exists("/sys/module/kvm_pvm")
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(),
            "kvm": "pvm" if pvm else "hardware", "qemu": first_line([qemu, "--version"])
            if qemu else None}


def plot(rows, outdir, reps):
    """Writes PLOT.dat and PLOT.gp for each plot group and runs gnuplot."""
    gnuplot = shutil.which("gnuplot")
    made = []
    for key, (stem, title, ylabel, log, scale) in PLOTS.items():
        group = [r for r in rows if r.get("plot") == key]
        for ext in ("png", "dat", "gp"):  # nothing stale from an earlier run
            if os.path.exists(os.path.join(outdir, f"{stem}.{ext}")):
                os.unlink(os.path.join(outdir, f"{stem}.{ext}"))
        if not any(r["summary"].get(sn) for r in group for sn in SYSTEM_ORDER):
            continue  # no numbers at all (everything failed or n/a): nothing to draw
        dat = os.path.join(outdir, f"{stem}.dat")
        with open(dat, "w") as f:
            f.write("# label " + " ".join(SYSTEM_ORDER) + "\n")
            for r in group:
                vals = []
                for sysname in SYSTEM_ORDER:
                    s = r["summary"].get(sysname)
                    vals.append(f"{s['median'] * scale:.6g}" if s else "?")
                label = r.get("short", r["name"]).replace('"', "'")
                f.write(f'"{label}" ' + " ".join(vals) + "\n")
        labels = ["kvmm", "QEMU -M pc", "QEMU -M microvm"]
        series = []
        for i, lab in enumerate(labels):
            col = i + 2
            src = f"'{os.path.basename(dat)}'" if i == 0 else "''"
            series.append(f"{src} using {col}:xtic(1) title '{lab}'")
            off = (i - 1) * 0.25
            lfmt = '"%.0f"' if log else '"%.3g"'
            series.append(f"'' using ($0{off:+.2f}):{col}:(sprintf({lfmt}, ${col})) "
                          "with labels offset 0,0.6 font ',8' notitle")
        gp = os.path.join(outdir, f"{stem}.gp")
        with open(gp, "w") as f:
            f.write(f"""set terminal pngcairo size 640,360 font 'sans,9'
set output '{stem}.png'
set title "{title} of {reps} run(s); kvmm and QEMU/KVM in the same run"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing '?'
set ylabel "{ylabel}"
set yrange [{'1' if log else '0'}:*]
{'set logscale y' if log else ''}
set key below horizontal
set grid ytics
set xtics noenhanced scale 0 font ',8'
set title noenhanced
plot {', '.join(series)}
""")
        if not gnuplot:
            continue
        rc = subprocess.run([gnuplot, os.path.basename(gp)], cwd=outdir,
                            capture_output=True, text=True)
        if rc.returncode:
            print(f"bench: gnuplot failed for {stem}: {rc.stderr.strip()[-300:]}",
                  file=sys.stderr)
        else:
            made.append(os.path.join(outdir, f"{stem}.png"))
    if not gnuplot:
        print("bench: gnuplot not installed (apt-get install gnuplot-nox): no plots",
              file=sys.stderr)
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build folder (kvmm and guest/*.elf)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    ap.add_argument("--smoke", action="store_true",
                    help="1 repetition, tiny sizes; fail unless every row has kvmm numbers")
    ap.add_argument("--only", metavar="REGEX", help="rows whose id or name matches")
    ap.add_argument("--no-qemu", action="store_true", help="kvmm only")
    ap.add_argument("--out", help="results folder (default BUILD/bench)")
    ap.add_argument("--markdown", metavar="JSON",
                    help="print the table of a results.json as Markdown and exit")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return 0
    reps = 1 if args.smoke else args.reps
    # Density keeps hundreds of VMs (two pipes each) open at once.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    outdir = args.out or os.path.join(args.build, "bench")
    os.makedirs(outdir, exist_ok=True)

    kvmm = os.path.join(args.build, "kvmm")
    ctx = Context(args.build, args.smoke)
    missing = [p for p in [kvmm] + [ctx.guest(g) for g in ("hello", "exits", "exitloop", "idle",
                                                            "memtouch", "virtio_blk")]
               if not os.path.exists(p)]
    if missing:
        print(f"bench: missing {', '.join(missing)}: run make first", file=sys.stderr)
        return 2
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("bench: /dev/kvm is not usable", file=sys.stderr)
        return 2
    qemu = None if args.no_qemu else find_qemu()
    systems = {"kvmm": kvmm_system(kvmm)}
    if qemu:
        for v in QEMU_VARIANTS:
            systems[f"qemu-{v}"] = qemu_system(qemu, v)
    no_qemu = "n/a (--no-qemu)" if args.no_qemu else "n/a (qemu-system-x86_64 not installed)"
    if not qemu and not args.no_qemu:
        print("bench: qemu-system-x86_64 not found: kvmm column only "
              "(make bench installs it)", file=sys.stderr)

    only = re.compile(args.only) if args.only else None
    rows, plan = [], []
    for mod in MODULES:
        mrows = []
        for spec in mod.ROWS:
            if only and not (only.search(spec["id"]) or only.search(spec["name"])):
                continue
            r = dict(spec, kvmm=[], qemu={}, na=dict(spec.get("na", {})), errors={})
            r["qemu_variants"] = [s.split("-", 1)[1] for s in mod.SYSTEMS if s != "kvmm"]
            for v in QEMU_VARIANTS:
                if f"qemu-{v}" not in mod.SYSTEMS:
                    r["na"].setdefault(f"qemu-{v}", "n/a")
                    if v not in r["qemu_variants"]:
                        r["qemu_variants"].append(v)
                elif not qemu:
                    r["na"].setdefault(f"qemu-{v}", no_qemu)
            for v in r["qemu_variants"]:
                r["qemu"][v] = []
            mrows.append(r)
        if not mrows:
            continue
        rows += mrows
        sysnames = [s for s in mod.SYSTEMS if s in systems and
                    any(s not in r["na"] for r in mrows)]
        plan.append((mod, mrows, sysnames))

    load_before = os.getloadavg()
    if load_before[0] > (os.cpu_count() or 1):
        print(f"bench: load average {load_before[0]:.1f} on {os.cpu_count()} CPUs: absolute "
              "numbers will be noisy (interleaving keeps the ratios fairer)", file=sys.stderr)
    t_start = time.monotonic()
    for rep in range(reps):
        ctx.rep = rep
        for mod, mrows, sysnames in plan:
            if rep >= getattr(mod, "MAX_REPS", reps):
                continue
            for sysname in sysnames:
                t0 = time.monotonic()
                name = mod.__name__[3:]
                print(f"[{rep + 1}/{reps}] {name:8} {sysname:13}", end=" ", file=sys.stderr,
                      flush=True)
                try:
                    vals = mod.sample(systems[sysname], ctx)
                    err = None
                except (BenchError, OSError) as e:
                    vals, err = {}, str(e)
                for r in mrows:
                    if sysname in r["na"]:
                        continue
                    if r["id"] in vals:
                        (r["kvmm"] if sysname == "kvmm" else
                         r["qemu"][sysname.split("-", 1)[1]]).append(vals[r["id"]])
                    else:
                        r["errors"].setdefault(sysname, []).append(err or "no value")
                print(f"{time.monotonic() - t0:6.1f} s" + (f"  FAILED: {err}" if err else ""),
                      file=sys.stderr, flush=True)

    for r in rows:
        summarize(r)
    meta = host_info(qemu)
    print_table(rows, reps)
    meta.update({"reps": reps, "smoke": args.smoke, "seconds": round(time.monotonic() - t_start, 1),
                 "loadavg_before": load_before, "loadavg_after": os.getloadavg()})
    keep = ("id", "name", "unit", "better", "kvmm", "qemu", "na", "errors", "summary")
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"meta": meta, "rows": [{k: r[k] for k in keep} for r in rows],
                   "details": ctx.details}, f, indent=1)
    write_csv(rows, os.path.join(outdir, "results.csv"))
    made = plot(rows, outdir, reps)
    print(f"bench: {meta['seconds']} s; wrote {outdir}/results.csv, results.json"
          + (", " + ", ".join(os.path.basename(p) for p in made) if made else ""))

    if args.smoke:
        bad = [r["id"] for r in rows if "kvmm" not in r["na"] and not r["kvmm"]]
        badq = [f"{r['id']} ({s})" for r in rows for s in systems if s != "kvmm"
                and s not in r["na"] and not r["qemu"][s.split("-", 1)[1]]]
        if bad or badq:
            print("bench-smoke: FAIL, no numbers for: " + ", ".join(
                [f"{b} (kvmm)" for b in bad] + badq), file=sys.stderr)
            return 1
        print(f"bench-smoke: ok, {len(rows)} rows have numbers "
              f"({'kvmm and QEMU' if qemu else 'kvmm; QEMU not installed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
