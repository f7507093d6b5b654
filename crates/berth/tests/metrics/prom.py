"""Prometheus' own parsers, for the metrics tests.

`exposition`: read a /metrics body on stdin and print its families as JSON,
as prometheus_client's parser sees them:
  {"<family>": {"type": "...", "samples": [["<sample name>", {labels}, value], ...]}}
`promql`: read a JSON list of PromQL expressions on stdin and print, for
each, the metric names its selectors name (promql-parser, the Prometheus
grammar), as a JSON list of lists.
"""

import json
import sys


def exposition():
    from prometheus_client.parser import text_string_to_metric_families

    families = {}
    for family in text_string_to_metric_families(sys.stdin.read()):
        families[family.name] = {
            "type": family.type,
            "samples": [[s.name, s.labels, s.value] for s in family.samples],
        }
    json.dump(families, sys.stdout)


def promql():
    import promql_parser

    out = []
    for expr in json.load(sys.stdin):
        names = []

        def visit(node):
            if isinstance(node, promql_parser.VectorSelector):
                name = node.name
                if name is None:
                    for m in node.matchers.matchers:
                        if m.name == "__name__":
                            name = m.value
                if name is None:
                    raise SystemExit(f"a selector without a metric name in: {expr}")
                names.append(name)
            return True

        promql_parser.walk(promql_parser.parse(expr), visit)
        out.append(names)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    {"exposition": exposition, "promql": promql}[sys.argv[1]]()
