"""The exposition format writer of GET /metrics (rpc/prometheus.py), read back with
prometheus_client's parser: escaped label values and HELP text, integers, floats, NaN and
infinities."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from supervisor_runtime.rpc.prometheus import Exposition, labels, number


def test_a_page_with_awkward_labels_parses_back() -> None:
    page = Exposition()
    awkward = 'a "quoted" back\\slash\nnew line'
    page.family(
        "supervisord_test_info",
        "gauge",
        "Help with a back\\slash\nand a new line.",
        [(labels(("identifier", awkward), ("version", "4.3.0")), 1)],
    )
    page.family(
        "supervisord_test_seconds_total",
        "counter",
        "Counts.",
        [("", 1.5), (labels(("kind", "big")), 10**12)],
    )
    page.family(
        "supervisord_test_odd",
        "gauge",
        "Odd values.",
        [
            (labels(("v", "nan")), math.nan),
            (labels(("v", "inf")), math.inf),
            (labels(("v", "-inf")), -math.inf),
        ],
    )
    text = page.body().decode()
    assert text.endswith("\n") and 'identifier="a \\"quoted\\" back\\\\slash\\nnew line"' in text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    info = families["supervisord_test_info"]
    assert info.type == "gauge" and info.documentation == "Help with a back\\slash\nand a new line."
    assert info.samples[0].labels == {"identifier": awkward, "version": "4.3.0"}
    counter = families["supervisord_test_seconds"]
    assert counter.type == "counter"
    assert [(s.labels, s.value) for s in counter.samples] == [({}, 1.5), ({"kind": "big"}, 1e12)]
    odd = {s.labels["v"]: s.value for s in families["supervisord_test_odd"].samples}
    assert math.isnan(odd["nan"]) and odd["inf"] == math.inf and odd["-inf"] == -math.inf


def test_numbers() -> None:
    assert [number(v) for v in (0, 20, 1.25, math.inf, -math.inf, math.nan)] == [
        "0",
        "20",
        "1.25",
        "+Inf",
        "-Inf",
        "NaN",
    ]
    assert labels() == ""
