"""autolrsctl's family commands: what the server learned from a kind of job's runs.

families          list the caller's families (runs, spread, last update)
family NAME       one family: its runs and its LR-against-progress curve
forget NAME       delete a family's knowledge (its jobs stay)
"""

import json

from google.protobuf import json_format

from autolrs.v1 import service_pb2


def _when(ts):
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") + "Z" if ts.seconds else "-"


def cmd_families(conn, args, table, fmt):
    rows, token = [], ""
    while True:
        page = conn.call("ListFamilies", service_pb2.ListFamiliesRequest(page_size=args.page_size,
                                                                         page_token=token))
        for f in page.families:
            rows.append([f.name, str(len(f.runs)), str(f.runs_recorded),
                         fmt(f.spread_decades), _when(f.update_time)])
        token = page.next_page_token
        if not token:
            break
    if args.json:
        print(json.dumps([dict(zip(["family", "runs", "recorded", "spread_decades", "updated"],
                                   r)) for r in rows], indent=2))
    elif rows:
        print(table(["FAMILY", "RUNS", "RECORDED", "SPREAD", "UPDATED"], rows))
    else:
        print("no families")
    return 0


def cmd_family(conn, args, table, fmt):
    family = conn.call("GetFamily", service_pb2.GetFamilyRequest(name=args.family))
    if args.json:
        print(json_format.MessageToJson(family, preserving_proto_field_name=True))
        return 0
    print(f"family {family.name}" + (f" (tenant {family.tenant})" if family.tenant else ""))
    print(f"  runs         {len(family.runs)} kept, {family.runs_recorded} recorded")
    print(f"  spread       {fmt(family.spread_decades)} decades (largest, where >= 2 runs)")
    print(f"  updated      {_when(family.update_time)}")
    print("runs")
    rows = [[r.job_id, str(r.seed), str(r.prior_runs) + (" dropped" if r.prior_dropped else ""),
             f"{100 * r.probe_fraction:.1f}%", fmt(r.final_training_loss),
             fmt(r.final_validation_loss) if r.final_validation_loss else "-",
             str(len(r.stages))] for r in family.runs]
    print(table(["JOB", "SEED", "PRIOR", "PROBES", "FINAL LOSS", "FINAL VAL", "STAGES"], rows))
    print("curve (LR against progress = steps spent / total_steps)")
    rows = [[f"{p.progress:.3f}", fmt(p.lr), fmt(p.lr_low), fmt(p.lr_high), str(p.runs)]
            for p in family.curve]
    print(table(["PROGRESS", "LR", "LOW", "HIGH", "RUNS"], rows))
    return 0


def cmd_forget(conn, args, table, fmt):
    conn.call("DeleteFamily", service_pb2.DeleteFamilyRequest(name=args.family))
    print(f"forgot family {args.family}")
    return 0


def add_parsers(sub, table, fmt):
    """Adds the family commands to autolrsctl's subparsers."""
    def bind(command):
        return lambda conn, args: command(conn, args, table, fmt)

    s = sub.add_parser("families", help="list the families",
                       description="List the families (JobConfig.family) the server learned "
                       "from: runs kept and recorded, the runs' largest LR spread, last update.")
    s.add_argument("--page_size", type=int, default=500, help="families fetched per call")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(run=bind(cmd_families))

    s = sub.add_parser("family", help="show one family",
                       description="Show a family: each run (its prior, probe share, final "
                       "losses) and the LR the runs chose against progress.")
    s.add_argument("family", help="the family name")
    s.add_argument("--json", action="store_true", help="print the Family message as JSON")
    s.set_defaults(run=bind(cmd_family))

    s = sub.add_parser("forget", help="delete a family's knowledge",
                       description="Delete what the server learned from a family's runs (the "
                       "jobs stay). Later jobs of the family start from nothing.")
    s.add_argument("family", help="the family name")
    s.set_defaults(run=bind(cmd_forget))
