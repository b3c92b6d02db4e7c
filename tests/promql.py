"""The metric and label names a PromQL expression uses, checked against the
series the operator exports: the dashboard's and the alert rules' contract.

Not a PromQL parser (promtool checks the syntax): a tokenizer that knows where
names stand. A metric name is an identifier that is neither a keyword nor a
function call; the labels in ``{...}`` after it are matched against that
metric's labels; the labels of ``by``/``without`` against the metrics of the
aggregation they group, and those of ``on``/``ignoring``/``group_left``/
``group_right`` against every metric of the expression. Strings, ranges
(``[5m]``, ``[$__rate_interval]``) and Grafana's ``$variables`` in them carry
no names.

What the operator exports comes from its own registry (``taskops.metrics``),
by type: a counter ``x`` is the series ``x_total``, a histogram ``x`` is
``x_bucket`` (with ``le``), ``x_sum`` and ``x_count``, a gauge is ``x``.
A scrape adds target labels; Prometheus renames an exported label that clashes
with one (``namespace``) to ``exported_<label>``, and both spellings are valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Labels that a scrape through the chart's Service (a ServiceMonitor, or
#: Kubernetes service discovery relabelled the same way) puts on every series.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "service", "pod", "container",
                           "endpoint"})
#: Series that are Prometheus' own, not the operator's: ``up`` of each scrape.
SCRAPE_SERIES: Mapping[str, frozenset[str]] = {"up": frozenset()}

KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                      "group_right", "bool", "offset", "atan2", "inf", "nan", "start", "end"})
AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                          "count_values", "bottomk", "topk", "quantile", "limitk",
                          "limit_ratio"})
GROUPING = frozenset({"by", "without"})
MATCHING = frozenset({"on", "ignoring", "group_left", "group_right"})
#: Functions that make up labels: a name check could not follow them.
LABEL_MAKERS = frozenset({"label_replace", "label_join"})

_TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<number>0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?[a-z]*)
  | (?P<variable>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},@])
  | (?P<space>\s+)
""", re.X)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokens(expr: str) -> list[Token]:
    """The tokens of ``expr``, whitespace dropped; raises ValueError on a character
    that no PromQL token starts with."""
    found: list[Token] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot tokenize {expr[pos:pos + 20]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append(Token(kind, match.group()))
        pos = match.end()
    return found


@dataclass
class Names:
    """The names one expression uses."""

    #: Every metric name.
    metrics: set[str] = field(default_factory=set)
    #: (metric, label) of each matcher in a selector; metric None for ``{...}`` alone.
    selector_labels: list[tuple[str | None, str]] = field(default_factory=list)
    #: (metrics in scope, label) of each ``by``/``without``/``on``/... label.
    grouping_labels: list[tuple[frozenset[str], str]] = field(default_factory=list)
    #: Functions that invent labels (label_replace, label_join).
    label_makers: set[str] = field(default_factory=set)


def _closing(toks: list[Token], open_at: int) -> int:
    """Index of the token closing the bracket at ``open_at``."""
    pairs = {"(": ")", "{": "}"}
    opener = toks[open_at].text
    depth = 0
    for i in range(open_at, len(toks)):
        if toks[i].text == opener:
            depth += 1
        elif toks[i].text == pairs[opener]:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced {opener!r}")


def _opening(toks: list[Token], close_at: int) -> int:
    depth = 0
    for i in range(close_at, -1, -1):
        if toks[i].text == ")":
            depth += 1
        elif toks[i].text == "(":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced ')'")


def _label_positions(toks: list[Token]) -> set[int]:
    """Indices of the tokens inside ``{...}`` and inside the lists of ``by (...)`` & co."""
    inside: set[int] = set()
    for i, tok in enumerate(toks):
        word = tok.text.lower() if tok.kind == "ident" else ""
        if tok.text == "{":
            inside.update(range(i + 1, _closing(toks, i)))
        elif word in GROUPING | MATCHING and i + 1 < len(toks) and toks[i + 1].text == "(":
            inside.update(range(i + 2, _closing(toks, i + 1)))
    return inside


def _is_metric(toks: list[Token], i: int, labels: set[int]) -> bool:
    tok = toks[i]
    word = tok.text.lower()
    if tok.kind != "ident" or i in labels or word in KEYWORDS or word in AGGREGATIONS:
        return False
    following = toks[i + 1].text if i + 1 < len(toks) else ""
    return following != "("


def names(expr: str) -> Names:
    """The metric and label names ``expr`` uses (see the module's docstring)."""
    toks = tokens(expr)
    found = Names()
    labels = _label_positions(toks)
    metric_at = {i: t.text for i, t in enumerate(toks) if _is_metric(toks, i, labels)}

    def metrics_between(start: int, stop: int) -> frozenset[str]:
        return frozenset(name for i, name in metric_at.items() if start <= i <= stop)

    everything = metrics_between(0, len(toks))
    found.metrics = set(everything)
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "ident" and tok.text in LABEL_MAKERS:
            found.label_makers.add(tok.text)
        if tok.text == "{":
            close = _closing(toks, i)
            metric = metric_at.get(i - 1)
            for j in range(i + 1, close):
                if toks[j].kind == "ident" and toks[j + 1].text in ("=", "!=", "=~", "!~"):
                    found.selector_labels.append((metric, toks[j].text))
            i = close + 1
            continue
        word = tok.text.lower() if tok.kind == "ident" else ""
        if (word in GROUPING or word in MATCHING) and i + 1 < len(toks) and toks[i + 1].text == "(":
            close = _closing(toks, i + 1)
            labels = [t.text for t in toks[i + 2:close] if t.kind in ("ident", "string")]
            if word in MATCHING:
                scope = everything
            elif i > 0 and toks[i - 1].text == ")":  # sum(x) by (l)
                scope = metrics_between(_opening(toks, i - 1), i - 1)
            elif close + 1 < len(toks) and toks[close + 1].text == "(":  # sum by (l) (x)
                scope = metrics_between(close + 1, _closing(toks, close + 1))
            else:
                raise ValueError(f"{word} (...) groups nothing in {expr!r}")
            found.grouping_labels += [(scope, label.strip("\"'`")) for label in labels]
            i = close + 1
            continue
        i += 1
    return found


@dataclass(frozen=True)
class Family:
    """One metric the operator registers."""

    name: str
    type: str
    labels: frozenset[str]

    def series(self) -> dict[str, frozenset[str]]:
        """The series names it is exported as, with their labels."""
        if self.type == "counter":
            return {f"{self.name}_total": self.labels}
        if self.type == "histogram":
            return {f"{self.name}_bucket": self.labels | {"le"},
                    f"{self.name}_sum": self.labels, f"{self.name}_count": self.labels}
        if self.type == "summary":
            return {self.name: self.labels | {"quantile"}, f"{self.name}_sum": self.labels,
                    f"{self.name}_count": self.labels}
        return {self.name: self.labels}


def operator_families() -> list[Family]:
    """Every metric the operator registers, samples or not."""
    from prometheus_client.metrics import MetricWrapperBase

    from taskops.metrics import Metrics

    registry = Metrics(process_collectors=False).registry
    # The registry's collectors are the metric objects; their name, type and label
    # names are attributes prometheus-client keeps without a public accessor.
    collectors = set(registry._collector_to_names)
    return sorted((Family(c._name, c._type, frozenset(c._labelnames))
                   for c in collectors if isinstance(c, MetricWrapperBase)),
                  key=lambda family: family.name)


def exported_series(families: Iterable[Family]) -> dict[str, frozenset[str]]:
    """Series name -> its label names, for ``families`` and Prometheus' own ``up``."""
    series: dict[str, frozenset[str]] = dict(SCRAPE_SERIES)
    for family in families:
        series.update(family.series())
    return series


def _label_is_valid(label: str, own: frozenset[str]) -> bool:
    if label in own or label in TARGET_LABELS or label == "__name__":
        return True
    # honor_labels false: the scrape's label wins, the exported one is renamed.
    return label.startswith("exported_") and label.removeprefix("exported_") in own & TARGET_LABELS


def problems(expr: str, series: Mapping[str, frozenset[str]]) -> list[str]:
    """What in ``expr`` the operator does not export: empty when every name exists."""
    found = names(expr)
    wrong: list[str] = []
    for metric in sorted(found.metrics):
        if metric not in series:
            hint = [s for s in series if s.startswith(metric)]
            wrong.append(f"metric {metric} is not exported" + (f" (did you mean {hint})"
                                                               if hint else ""))
    for metric, label in found.selector_labels:
        if metric is None:
            in_any = any(_label_is_valid(label, own) for own in series.values())
            if not in_any:
                wrong.append(f"label {label} is on no series")
        elif metric in series and not _label_is_valid(label, series[metric]):
            wrong.append(f"label {label} is not a label of {metric} ({sorted(series[metric])})")
    for scope, label in found.grouping_labels:
        known = [series[m] for m in scope if m in series]
        if known and not any(_label_is_valid(label, own) for own in known):
            wrong.append(f"label {label} is on none of {sorted(scope)}")
        if not scope:
            wrong.append(f"label {label} groups no metric")
    for maker in sorted(found.label_makers):
        wrong.append(f"{maker} makes up labels that cannot be checked")
    return wrong


_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.*),\s*)?(?P<label>\w+)\s*\)\s*$")


def variable_query_problems(query: str, series: Mapping[str, frozenset[str]]) -> list[str]:
    """Like :func:`problems`, for a Grafana variable's query: ``label_values(sel, label)``
    or a PromQL expression."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        return problems(query, series)
    selector = match["selector"]
    if selector is None:
        return [f"label_values({match['label']}) names no metric"]
    wrong = problems(selector, series)
    metrics = names(selector).metrics
    if not any(_label_is_valid(match["label"], series.get(m, frozenset())) for m in metrics):
        wrong.append(f"label {match['label']} is not a label of {sorted(metrics)}")
    return wrong


#: Grafana's interval variables, as promtool would see them (for its syntax check).
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                     "${__rate_interval}": "5m", "${__interval}": "1m", "${__range}": "1h"}


def as_plain_promql(expr: str) -> str:
    """``expr`` with Grafana's interval variables replaced by durations; the other
    variables stand inside label values, where any string is valid PromQL."""
    for variable, duration in GRAFANA_INTERVALS.items():
        expr = expr.replace(variable, duration)
    return expr
