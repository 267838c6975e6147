"""autolrsctl: look at and manage the jobs of an autolrs_server.

    autolrsctl --target=localhost:50051 list
    autolrsctl show <job>              config, state, stage table, current action
    autolrsctl export <job> --format=csv [--out=FILE]
    autolrsctl plot <job> --out=job.png [--width=1000 --height=600]
    autolrsctl delete <job>
    autolrsctl health
    autolrsctl families | family <name> [--json] | forget <name>

`autolrsctl <command> --help` describes each command. Connection flags
(--target, --token_file/--token, --ca_file, --cert_file, --key_file,
--server_name, --deadline) go before the command. Exit status: 0 on success,
1 when the server answered with an error or could not be reached (the
message says what to do), 2 for a bad command line; `health` exits 1 when
the server is not SERVING.
"""

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import json_format

import families
from autolrs.v1 import job_pb2, service_pb2, service_pb2_grpc

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class CtlError(Exception):
    """An error to print (without a traceback) and exit 1 with."""


# ---------------------------------------------------------------- connection


def read_file(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CtlError(f"cannot read the {what} '{path}': {e.strerror}") from e


def make_channel(args):
    """The channel the flags ask for: TLS when --ca_file, --cert_file or --tls."""
    if bool(args.cert_file) != bool(args.key_file):
        raise CtlError("--cert_file and --key_file go together (a client certificate and its "
                       "key, for mTLS)")
    options = [("grpc.max_receive_message_length", -1)]
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    if args.ca_file or args.cert_file or args.tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read_file(args.ca_file, "CA file (--ca_file)") if args.ca_file
            else None,
            private_key=read_file(args.key_file, "key file (--key_file)") if args.key_file
            else None,
            certificate_chain=read_file(args.cert_file, "certificate file (--cert_file)")
            if args.cert_file else None)
        return grpc.secure_channel(args.target, credentials, options=options)
    return grpc.insecure_channel(args.target, options=options)


def token_of(args):
    if args.token and args.token_file:
        raise CtlError("give --token or --token_file, not both")
    token = args.token
    if args.token_file:
        token = read_file(args.token_file, "token file (--token_file)").decode().strip()
        if not token:
            raise CtlError(f"the token file '{args.token_file}' is empty")
    return token or None


class Connection:
    """The service stub with the flags' token and deadline on every call."""

    def __init__(self, args):
        self.args = args
        self.channel = make_channel(args)
        token = token_of(args)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.stub = service_pb2_grpc.AutoLrsServiceStub(self.channel)

    def call(self, method, request, job_id=None):
        try:
            return getattr(self.stub, method)(request, timeout=self.args.deadline,
                                              metadata=self.metadata)
        except grpc.RpcError as e:
            raise CtlError(explain(e, self.args, job_id)) from e

    def health(self):
        check = self.channel.unary_unary(HEALTH_CHECK, request_serializer=lambda b: b,
                                         response_deserializer=lambda b: b)
        try:
            # HealthCheckRequest{service: ""} is the empty message.
            raw = check(b"", timeout=self.args.deadline, metadata=self.metadata)
        except grpc.RpcError as e:
            raise CtlError(explain(e, self.args, None)) from e
        # HealthCheckResponse{status = 1 (enum, varint)}: b"\x08<status>", or
        # empty for UNKNOWN (0).
        status = raw[1] if len(raw) >= 2 and raw[0] == 0x08 else 0
        return HEALTH_STATUS.get(status, f"status {status}")

    def close(self):
        self.channel.close()


def explain(error, args, job_id):
    """What went wrong with a call, and what to do about it."""
    code, details = error.code(), error.details() or ""
    target = args.target
    if code == grpc.StatusCode.UNAVAILABLE:
        hint = ("is autolrs_server running there? Check --target; if the server uses TLS, pass "
                "--ca_file (and --cert_file/--key_file for mTLS); if it does not, drop the TLS "
                "flags")
        return f"cannot reach the server at {target} ({details}): {hint}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return (f"the server at {target} did not answer within {args.deadline:g}s: it may be "
                "overloaded or unreachable; retry, or raise --deadline")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return (f"the server refused the credentials ({details}): pass the server's token with "
                "--token_file=FILE (or --token)")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied ({details}): this token may not do that"
    if code == grpc.StatusCode.NOT_FOUND and job_id is not None:
        return f"{details or f'job {job_id!r} does not exist'}: `autolrsctl list` shows the jobs"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return f"the server refused the request: {details}"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (f"the server at {target} does not serve this ({details}): is --target an "
                "autolrs_server?")
    return f"{code.name}: {details}"


# ------------------------------------------------------------------- helpers


PHASES = {v.number: v.name[len("PHASE_"):] for v in job_pb2.Phase.DESCRIPTOR.values}
CHECKPOINTS = {v.number: v.name[len("CHECKPOINT_OP_"):]
               for v in job_pb2.CheckpointOp.DESCRIPTOR.values}
STATES = {v.number: v.name[len("JOB_STATE_"):] for v in job_pb2.JobState.DESCRIPTOR.values}


def fmt(x):
    """A float as a short readable string."""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4g}"


def table(headers, rows):
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def get_job(conn, job_id):
    return conn.call("GetJob", service_pb2.GetJobRequest(job_id=job_id), job_id)


def get_schedule(conn, job_id):
    return conn.call("GetSchedule", service_pb2.GetScheduleRequest(job_id=job_id), job_id)


def segments(schedule):
    """Every action of the schedule in the order they ran, as dicts: kind
    (warmup, probe, confirm, exploit, cooldown), stage, probe index, start step (job
    steps, probes included), steps, LR at start and end, and losses."""
    out = []
    step = 0
    if schedule.warmup_steps > 0:
        # The ramp's first step: warmup_lr / warmup_steps (the Schedule does
        # not keep the ramp's start; the default ramp starts there).
        out.append(dict(kind="warmup", stage=-1, probe=-1, start=0, steps=schedule.warmup_steps,
                        lr_start=schedule.warmup_lr / schedule.warmup_steps,
                        lr_end=schedule.warmup_lr, forecast=None, diverged=False,
                        loss=None, val=None))
        step = schedule.warmup_steps
    for stage in schedule.stages:
        step = stage.start_steps_spent
        for i, probe in enumerate(stage.probes):
            out.append(dict(kind="probe", stage=stage.index, probe=i, start=step,
                            steps=stage.tau_probe, lr_start=probe.lr, lr_end=probe.lr,
                            forecast=probe.predicted_loss, diverged=probe.diverged,
                            loss=probe.training_loss if probe.training_loss.count else None,
                            val=probe.validation_loss if probe.validation_loss.count else None))
            step += stage.tau_probe
        # The first stage's longer confirmation probes (first_stage_confirmation).
        for i, probe in enumerate(stage.confirmations):
            n = probe.training_loss.count
            out.append(dict(kind="confirm", stage=stage.index, probe=len(stage.probes) + i,
                            start=step, steps=n, lr_start=probe.lr, lr_end=probe.lr,
                            forecast=probe.predicted_loss, diverged=probe.diverged,
                            loss=probe.training_loss if n else None,
                            val=probe.validation_loss if probe.validation_loss.count else None))
            step += n
        if stage.chosen_lr > 0:
            reported = stage.training_loss.count > 0
            steps = stage.training_loss.count if reported else stage.tau
            out.append(dict(kind="exploit", stage=stage.index, probe=-1, start=step, steps=steps,
                            lr_start=stage.chosen_lr, lr_end=stage.chosen_lr,
                            forecast=stage.chosen_predicted_loss, diverged=False,
                            loss=stage.training_loss if reported else None,
                            val=stage.validation_loss if stage.validation_loss.count else None))
            step += steps
    if schedule.cooldown_steps > 0:
        n = schedule.cooldown_steps
        loss = schedule.cooldown_training_loss
        out.append(dict(kind="cooldown", stage=-1, probe=-1, start=step, steps=n,
                        lr_start=schedule.cooldown_lr * n / (n + 1),
                        lr_end=schedule.cooldown_lr / (n + 1), forecast=None, diverged=False,
                        loss=loss if loss.count else None,
                        val=schedule.cooldown_validation_loss
                        if schedule.cooldown_validation_loss.count else None))
    return out


# ------------------------------------------------------------------ commands


def cmd_list(conn, args):
    rows = []
    token = ""
    while True:
        page = conn.call("ListJobs", service_pb2.ListJobsRequest(page_size=args.page_size,
                                                                 page_token=token))
        for job in page.jobs:
            total = job.config.total_steps
            rows.append([job.job_id, STATES.get(job.state, str(job.state)),
                         str(job.stage), f"{job.steps_spent}/{total if total else '-'}",
                         fmt(job.current_lr),
                         job.update_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") + "Z"
                         if job.HasField("update_time") else "-"])
        token = page.next_page_token
        if not token:
            break
    if args.json:
        print(json.dumps([dict(zip(["job_id", "state", "stage", "steps", "current_lr",
                                    "updated"], r)) for r in rows], indent=2))
    elif rows:
        print(table(["JOB", "STATE", "STAGE", "STEPS", "LR", "UPDATED"], rows))
    else:
        print("no jobs")
    return 0


def cmd_show(conn, args):
    job = get_job(conn, args.job)
    schedule = get_schedule(conn, args.job)
    out = []
    out.append(f"job {job.job_id}")
    out.append(f"  state        {STATES.get(job.state, job.state)}")
    out.append(f"  stage        {job.stage}")
    total = job.config.total_steps
    out.append(f"  steps        {job.steps_spent} spent of {total if total else 'unbounded'}, "
               f"{job.model_steps} model steps")
    out.append(f"  current lr   {fmt(job.current_lr)}")
    if job.rank_timeouts:
        out.append(f"  rank timeouts {job.rank_timeouts} (last missing: "
                   f"{', '.join(map(str, job.timed_out_ranks))})")
    if job.HasField("create_time"):
        out.append(f"  created      {job.create_time.ToJsonString()}")
        out.append(f"  updated      {job.update_time.ToJsonString()}")
    out.append("config")
    config = json_format.MessageToDict(job.config, preserving_proto_field_name=True)
    for key in sorted(config):
        out.append(f"  {key:<22} {config[key]}")
    out.append("stages")
    rows = []
    for stage in schedule.stages:
        probes = " ".join(
            f"{fmt(p.lr)}->{'diverged' if p.diverged else fmt(p.predicted_loss)}"
            for p in stage.probes)
        notes = []
        if stage.search_skipped:
            notes.append("search skipped")
        if stage.search_stopped_early:
            notes.append("stopped early")
        if stage.confirmations:
            notes.append("confirmed " + " ".join(
                f"{fmt(p.lr)}->{'diverged' if p.diverged else fmt(p.predicted_loss)}"
                for p in stage.confirmations))
        if stage.rolled_back_lrs:
            notes.append("rolled back " + ",".join(fmt(x) for x in stage.rolled_back_lrs))
        rows.append([str(stage.index), str(stage.start_steps_spent), str(stage.tau),
                     str(stage.tau_probe), probes or "-",
                     fmt(stage.chosen_lr) if stage.chosen_lr else "(searching)",
                     fmt(stage.chosen_predicted_loss)
                     if stage.chosen_lr and not stage.search_skipped else "-",
                     fmt(stage.training_loss.tail_mean) if stage.training_loss.count else "-",
                     "; ".join(notes)])
    if rows:
        out.append(table(["STAGE", "START", "TAU", "TAU'", "PROBES (LR->FORECAST)", "CHOSEN LR",
                          "FORECAST", "LOSS", "NOTES"], rows))
    else:
        out.append("  (none yet)")
    if schedule.warmup_steps:
        out.append(f"warmup {schedule.warmup_steps} steps to lr {fmt(schedule.warmup_lr)}")
    if schedule.cooldown_steps:
        out.append(f"cooldown {schedule.cooldown_steps} steps from lr "
                   f"{fmt(schedule.cooldown_lr)}")
    # The action a trainer's rank 0 gets now (NextAction changes nothing but
    # what a rank timeout would change anyway).
    action = conn.call("NextAction", service_pb2.NextActionRequest(job_id=args.job), args.job)
    phase = PHASES.get(action.phase, str(action.phase))
    line = f"current action {action.action_id}: {phase}"
    if action.phase not in (job_pb2.PHASE_DONE, job_pb2.PHASE_WAIT):
        line += f", {action.steps} steps at lr {fmt(action.lr)}"
        if action.phase in (job_pb2.PHASE_WARMUP, job_pb2.PHASE_COOLDOWN):
            line += f" (ramp from {fmt(action.lr_ramp_start)})"
        line += f", stage {action.stage}"
        if action.phase == job_pb2.PHASE_PROBE:
            line += f" probe {action.probe_index}"
        line += f", checkpoint {CHECKPOINTS.get(action.checkpoint, action.checkpoint)}"
    elif action.phase == job_pb2.PHASE_WAIT:
        line += f" (retry after {action.retry_after_ms} ms)"
    out.append(line)
    print("\n".join(out))
    return 0


CSV_COLUMNS = ["kind", "stage", "probe", "start_step", "steps", "lr_start", "lr_end",
               "forecast", "diverged", "loss_first", "loss_last", "loss_tail_mean",
               "val_loss_last"]


def cmd_export(conn, args):
    schedule = get_schedule(conn, args.job)
    if args.format == "json":
        text = json_format.MessageToJson(schedule, preserving_proto_field_name=True,
                                         indent=2) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for s in segments(schedule):
            loss, val = s["loss"], s["val"]
            writer.writerow([
                s["kind"], s["stage"], s["probe"], s["start"], s["steps"], repr(s["lr_start"]),
                repr(s["lr_end"]), "" if s["forecast"] is None else repr(s["forecast"]),
                int(s["diverged"]), "" if loss is None else repr(loss.first),
                "" if loss is None else repr(loss.last),
                "" if loss is None else repr(loss.tail_mean),
                "" if val is None else repr(val.last)])
        text = buffer.getvalue()
    if args.out:
        try:
            with open(args.out, "w") as f:
                f.write(text)
        except OSError as e:
            raise CtlError(f"cannot write '{args.out}': {e.strerror}") from e
    else:
        sys.stdout.write(text)
    return 0


def gnuplot_script(job_id, data_path, width, height, out_path, has_loss):
    q = lambda s: s.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
    lines = [
        f'set terminal pngcairo size {width},{height} noenhanced font "sans,10"',
        f'set output "{q(out_path)}"',
        f'set title "AutoLRS job {q(job_id)}: LR and training loss over steps (probes included)"',
        'set xlabel "job step (probe steps included)"',
        'set ylabel "learning rate"',
        "set logscale y",
        "set format y '%g'",
        "set grid",
        "set key outside bottom center horizontal",
        "set datafile missing '?'",
    ]
    plots = [f'"{q(data_path)}" index 0 using 1:2 with lines lw 2 lc rgb "#1f77b4" '
             'title "LR (warmup, exploit, cooldown)"',
             f'"{q(data_path)}" index 1 using 1:2 with lines lw 1 lc rgb "#9ecae1" '
             'title "LR (probes)"']
    if has_loss:
        lines += ['set y2label "training loss"', "set y2tics", "set ytics nomirror"]
        plots += [f'"{q(data_path)}" index 2 using 1:2 axes x1y2 with linespoints pt 7 ps 0.6 '
                  'lc rgb "#d62728" title "loss (exploit/cooldown: first, tail mean)"',
                  f'"{q(data_path)}" index 3 using 1:2 axes x1y2 with points pt 6 ps 0.7 '
                  'lc rgb "#ff9896" title "loss (probe tail mean)"']
    lines.append("plot " + ", \\\n     ".join(plots))
    return "\n".join(lines) + "\n"


def cmd_plot(conn, args):
    if not 100 <= args.width <= 10000 or not 100 <= args.height <= 10000:
        raise CtlError("--width and --height must be between 100 and 10000 pixels")
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        raise CtlError("gnuplot is not installed: apt-get install gnuplot-nox")
    schedule = get_schedule(conn, args.job)
    segs = segments(schedule)
    if not segs:
        raise CtlError(f"job '{args.job}' has no finished or planned action to plot yet: try "
                       "again once its trainer has run")
    main, probes, loss, probe_loss = [], [], [], []
    for s in segs:
        start, end = s["start"], s["start"] + s["steps"]
        points = [(start, s["lr_start"]), (end, s["lr_end"])]
        if s["kind"] in ("probe", "confirm"):
            probes += points + [None]
            if s["loss"] is not None and s["loss"].tail_mean == s["loss"].tail_mean:
                probe_loss.append((end, s["loss"].tail_mean))
        else:
            if main and main[-1] is not None and main[-1][0] != start:
                main.append(None)  # Probes ran in between: a gap in the main line.
            main += points
            if s["loss"] is not None:
                loss += [(start, s["loss"].first), (end, s["loss"].tail_mean)]
    finite = lambda p: p[1] == p[1] and abs(p[1]) != float("inf")  # noqa: E731
    loss = [p for p in loss if finite(p)]

    def block(points):
        rows = ["\n" if p is None else f"{p[0]} {p[1]!r}\n" for p in points]
        return "".join(rows) if rows else "? ?\n"

    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise CtlError(f"cannot write '{args.out}': the directory '{out_dir}' does not exist")
    with tempfile.TemporaryDirectory(prefix="autolrsctl_") as tmp:
        data = os.path.join(tmp, "schedule.dat")
        with open(data, "w") as f:
            f.write(block(main) + "\n\n" + block(probes) + "\n\n" + block(loss) + "\n\n" +
                    block(probe_loss))
        script = gnuplot_script(args.job, data, args.width, args.height,
                                os.path.abspath(args.out), bool(loss or probe_loss))
        done = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
        if done.returncode != 0:
            raise CtlError(f"gnuplot failed: {done.stderr.strip()}")
    print(f"wrote {args.out} ({args.width}x{args.height})")
    return 0


def cmd_delete(conn, args):
    conn.call("DeleteJob", service_pb2.DeleteJobRequest(job_id=args.job), args.job)
    print(f"deleted job {args.job}")
    return 0


def cmd_health(conn, args):
    status = conn.health()
    print(f"{args.target}: {status}")
    return 0 if status == "SERVING" else 1


# ---------------------------------------------------------------- arguments


def parser():
    p = argparse.ArgumentParser(
        prog="autolrsctl", description="Look at and manage the jobs of an autolrs_server.",
        epilog="Run `autolrsctl <command> --help` for a command's own options.")
    c = p.add_argument_group("connection")
    c.add_argument("--target", default=os.environ.get("AUTOLRS_TARGET", "localhost:50051"),
                   help="server address host:port (default: $AUTOLRS_TARGET or "
                   "localhost:50051)")
    c.add_argument("--token_file", help="file holding the bearer token the server wants")
    c.add_argument("--token", help="the bearer token itself (prefer --token_file: a "
                   "command line is visible to other users)")
    c.add_argument("--tls", action="store_true",
                   help="use TLS with the system's root certificates (implied by --ca_file "
                   "and --cert_file)")
    c.add_argument("--ca_file", help="PEM file of the CA that signed the server's certificate "
                   "(turns on TLS)")
    c.add_argument("--cert_file", help="PEM client certificate, for servers that require mTLS")
    c.add_argument("--key_file", help="PEM key of --cert_file")
    c.add_argument("--server_name", help="the name to verify the server's certificate against, "
                   "when it differs from --target's host")
    c.add_argument("--deadline", type=float, default=10.0,
                   help="seconds each call may take (default 10)")
    sub = p.add_subparsers(dest="command", metavar="command", required=True)

    s = sub.add_parser("list", help="list the jobs", description="List every job: id, state, "
                       "current stage, steps spent of the budget, current LR, last update.")
    s.add_argument("--page_size", type=int, default=500, help="jobs fetched per call")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(run=cmd_list)

    s = sub.add_parser("show", help="show one job", description="Show a job: its state, its "
                       "resolved config, the stage table (every probe's LR and forecast, the "
                       "chosen LR, its forecast and the loss reached) and the current action.")
    s.add_argument("job", help="the job id")
    s.set_defaults(run=cmd_show)

    s = sub.add_parser("export", help="export a job's schedule as JSON or CSV",
                       description="Export a job's schedule. json: the Schedule message "
                       "(proto3 JSON, field names as in job.proto). csv: one row per action "
                       f"in the order they ran, columns {', '.join(CSV_COLUMNS)}.")
    s.add_argument("job", help="the job id")
    s.add_argument("--format", choices=["json", "csv"], default="json", help="default json")
    s.add_argument("--out", help="file to write (default: standard output)")
    s.set_defaults(run=cmd_export)

    s = sub.add_parser("plot", help="plot LR and loss over steps to a PNG (gnuplot)",
                       description="Draw a job's LR (log scale) and training loss over its "
                       "steps, probes included, to a PNG with gnuplot (gnuplot-nox).")
    s.add_argument("job", help="the job id")
    s.add_argument("--out", required=True, help="the PNG file to write")
    s.add_argument("--width", type=int, default=1000, help="pixels (default 1000)")
    s.add_argument("--height", type=int, default=600, help="pixels (default 600)")
    s.set_defaults(run=cmd_plot)

    s = sub.add_parser("delete", help="delete a job", description="Delete a job and its "
                       "schedule for good. Its trainer's next call gets NOT_FOUND.")
    s.add_argument("job", help="the job id")
    s.set_defaults(run=cmd_delete)

    s = sub.add_parser("health", help="check the server's health",
                       description="Ask the server's gRPC health service. Prints SERVING or "
                       "NOT_SERVING (the store fails); exit status 0 only when SERVING.")
    s.set_defaults(run=cmd_health)

    families.add_parsers(sub, table, fmt)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        conn = Connection(args)
    except CtlError as e:
        print(f"autolrsctl: {e}", file=sys.stderr)
        return 2
    try:
        return args.run(conn, args)
    except CtlError as e:
        print(f"autolrsctl {args.command}: {e}", file=sys.stderr)
        return 1
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
