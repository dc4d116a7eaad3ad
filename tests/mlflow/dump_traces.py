"""Prints every trace of one MLflow experiment as JSON, read with MLflow's own client.

Used by crates/kiln/tests/integration/gateway_traces.rs:
    python dump_traces.py <tracking uri> <experiment id>
"""
import json
import sys

import mlflow


def main() -> None:
    uri, experiment_id = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(uri)
    try:
        traces = mlflow.search_traces(locations=[experiment_id], return_type="list")
    except TypeError:
        traces = mlflow.search_traces(experiment_ids=[experiment_id], return_type="list")
    out = []
    for t in traces:
        out.append(
            {
                "trace_id": t.info.trace_id,
                "state": str(t.info.state),
                "spans": [
                    {
                        "name": s.name,
                        "span_id": s.span_id,
                        "parent_id": s.parent_id,
                        "status": str(s.status.status_code),
                        "attributes": s.attributes,
                    }
                    for s in t.data.spans
                ],
            }
        )
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
