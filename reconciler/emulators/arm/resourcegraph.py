"""Azure Resource Graph's ``POST /providers/Microsoft.ResourceGraph/resources`` over the emulator's state.

Layer: emulator. Spec: ``spec/resourcegraph-2022-10-01.json`` (shared/azure-rest/2022-10-01, full copy)
and shared/azure-rest/CONTRACT.md §10.2 (paging with ``options.$skipToken``, at most 1,000 records a
page, 100 without ``$top``, ``resultTruncated`` "true" with no token after ``limit``/``take``, ``type``
lower-cased in answers, ``ErrorResponse`` bodies).

The emulator evaluates a small, documented subset of KQL (docs/arm-emulator.md "Resource Graph"):
the ``Resources`` table, then any of ``where``, ``project``, ``extend``, ``limit``/``take``,
``summarize [count()] by EXPR``, ``top N by COL [asc|desc]``, ``order by``/``sort by``; predicates
``==``, ``=~``, ``!=``, ``!~``, ``contains``, ``in``, ``in~``, ``isnotempty()``, ``isempty()``, joined
by ``and``/``or`` (``and`` binds tighter) or parenthesised; expressions: dotted property paths,
string and number literals, ``tostring``, ``tolower``, ``toupper``, ``coalesce``. Anything else is
refused 400 ``BadRequest`` / ``InvalidQuery`` as Resource Graph refuses a query it cannot parse.
Facets are not evaluated: each comes back as a ``FacetError``.

``ArmBackend.resource_graph`` (bound to ``Faults.resource_graph``) switches the endpoint: "allow";
"deny" (403 ``AuthorizationFailed``: an identity whose role has no ``Microsoft.ResourceGraph/resources/
read``); "absent" (404: a cloud without Resource Graph, such as Azure Stack Hub). The provider falls
back to the VM and scale-set lists on either refusal.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .model import ArmError, Call, Reply
from .schema import deep_copy

if TYPE_CHECKING:
    from .backend import ArmBackend, Handler

#: Records a page holds without ``$top``, and at most (CONTRACT.md §10.2).
DEFAULT_TOP, MAX_TOP = 100, 1000
#: ``Faults.resource_graph`` values.
MODES = ("allow", "deny", "absent")

Row = dict[str, Any]
Expr = Callable[[Row], Any]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<op>=~|==|!=|!~|in~|\(|\)|,|=)|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*))"
)


def _invalid(message: str) -> ArmError:
    return ArmError(400, "BadRequest", "Please provide below info when asking for support: timestamp = "
                    "emulator, correlationId = emulator.",
                    details=[{"code": "InvalidQuery", "message": f"Query is invalid. Please refer to the documentation "
                              f"for the Azure Resource Graph service and fix the error before retrying. {message}"}])


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _invalid(f"unexpected text at {pos}: {text[pos:pos + 20]!r}")
        out.append(m.group().strip())
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over one operator's tokens."""

    def __init__(self, tokens: list[str]) -> None:
        self.t, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok.lower() != expected):
            raise _invalid(f"expected {expected or 'more'}, got {tok!r}")
        self.i += 1
        return tok

    def done(self) -> None:
        if self.peek() is not None:
            raise _invalid(f"unexpected {self.peek()!r}")

    # predicates
    def predicate(self) -> Expr:
        left = self.conjunction()
        while (self.peek() or "").lower() == "or":
            self.take()
            left = _either(left, self.conjunction())
        return left

    def conjunction(self) -> Expr:
        left = self.comparison()
        while (self.peek() or "").lower() == "and":
            self.take()
            left = _both(left, self.comparison())
        return left

    def comparison(self) -> Expr:
        if self.peek() == "(":
            self.take()
            inner = self.predicate()
            self.take(")")
            return inner
        left = self.expression()
        op = (self.peek() or "").lower()
        if op in ("==", "=~", "!=", "!~", "contains"):
            self.take()
            right = self.expression()
            return _compare(op, left, right)
        if op in ("in", "in~"):
            self.take()
            self.take("(")
            values = [self.expression()]
            while self.peek() == ",":
                self.take()
                values.append(self.expression())
            self.take(")")
            fold = op == "in~"
            return lambda r: _text(left(r), fold) in {_text(v(r), fold) for v in values}
        return left

    # expressions
    def expression(self) -> Expr:
        tok = self.take()
        if tok[0] in "'\"":
            value = json.loads('"' + tok[1:-1].replace('"', '\\"') + '"') if tok[0] == "'" else json.loads(tok)
            return lambda r: value
        if tok[0].isdigit():
            number = float(tok) if "." in tok else int(tok)
            return lambda r: number
        if self.peek() == "(":
            return self.call(tok.lower())
        path = tok.split(".")
        return lambda r: _path(r, path)

    def call(self, name: str) -> Expr:
        self.take("(")
        args: list[Expr] = []
        if self.peek() != ")":
            args.append(self.expression())
            while self.peek() == ",":
                self.take()
                args.append(self.expression())
        self.take(")")
        funcs: dict[str, Callable[[list[Any]], Any]] = {
            "tostring": lambda a: "" if a[0] is None else (a[0] if isinstance(a[0], str) else json.dumps(a[0])),
            "tolower": lambda a: _text(a[0], True),
            "toupper": lambda a: _text(a[0], False).upper(),
            "coalesce": lambda a: next((v for v in a if v not in (None, "")), None),
            "isnotempty": lambda a: a[0] not in (None, "", [], {}),
            "isempty": lambda a: a[0] in (None, "", [], {}),
            "count": lambda a: None,
        }
        if name not in funcs:
            raise _invalid(f"the emulator does not support the function {name}()")
        fn = funcs[name]
        return lambda r: fn([a(r) for a in args])


def _either(a: Expr, b: Expr) -> Expr:
    return lambda r: bool(a(r)) or bool(b(r))


def _both(a: Expr, b: Expr) -> Expr:
    return lambda r: bool(a(r)) and bool(b(r))


def _path(row: Row, path: list[str]) -> Any:
    value: Any = row
    for part in path:
        if not isinstance(value, Mapping):
            return None
        if part in value:
            value = value[part]
        else:  # property names of dynamic columns compare case-insensitively
            value = next((v for k, v in value.items() if str(k).lower() == part.lower()), None)
    return value


def _text(value: Any, fold: bool) -> str:
    text = "" if value is None else (value if isinstance(value, str) else json.dumps(value))
    return text.lower() if fold else text


def _compare(op: str, left: Expr, right: Expr) -> Expr:
    if op == "==":
        return lambda r: left(r) == right(r)
    if op == "!=":
        return lambda r: left(r) != right(r)
    if op == "=~":
        return lambda r: _text(left(r), True) == _text(right(r), True)
    if op == "!~":
        return lambda r: _text(left(r), True) != _text(right(r), True)
    return lambda r: _text(right(r), True) in _text(left(r), True)


def _column_name(tokens: list[str]) -> str:
    """The column a projected expression gets: its last property name (``properties.x.osType`` ->
    ``osType``), or the argument's for a function (``tostring(a.b)`` -> ``b``)."""
    words = [t for t in tokens if t[0].isalpha() or t[0] == "_"]
    return words[-1].rsplit(".", 1)[-1] if words else "Column1"


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside quotes and parentheses."""
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [p.strip() for p in out]


def _assignments(text: str) -> list[tuple[str, Expr]]:
    """``a, name = expr, ...`` of ``project`` / ``extend``: (column, expression) pairs."""
    out = []
    for part in _split(text, ","):
        tokens = _tokens(part)
        if len(tokens) > 2 and tokens[1] == "=":
            name, tokens = tokens[0], tokens[2:]
        else:
            name = _column_name(tokens)
        parser = _Parser(tokens)
        expr = parser.expression()
        parser.done()
        out.append((name, expr))
    return out


def run_query(query: str, rows: list[Row]) -> tuple[list[Row], bool, bool]:
    """Evaluate ``query`` over ``rows``: (result, truncated by limit/take, ordered by the query)."""
    stages = _split(query, "|")
    if not stages or stages[0].strip().lower() != "resources":
        raise _invalid("the emulator answers queries of the Resources table only")
    ordered = False
    truncated = False
    for stage in stages[1:]:
        word, _, rest = stage.partition(" ")
        word = word.lower()
        if word == "where":
            parser = _Parser(_tokens(rest))
            pred = parser.predicate()
            parser.done()
            rows = [r for r in rows if pred(r)]
        elif word == "project":
            cols = _assignments(rest)
            rows = [{name: expr(r) for name, expr in cols} for r in rows]
        elif word == "extend":
            cols = _assignments(rest)
            rows = [{**r, **{name: expr(r) for name, expr in cols}} for r in rows]
        elif word in ("limit", "take"):
            n = int(rest.strip()) if rest.strip().isdigit() else None
            if n is None:
                raise _invalid(f"{word} needs a number")
            truncated = True  # CONTRACT.md §10.2: limit/take make the result unpageable
            rows = rows[:n]
        elif word == "summarize":
            rows = _summarize(rest, rows)
        elif word in ("top", "order", "sort"):
            rows = _order(word, rest, rows)
            ordered = True
            if word == "top":
                truncated = True
        else:
            raise _invalid(f"the emulator does not support the '{word}' operator")
    return rows, truncated, ordered


def _summarize(rest: str, rows: list[Row]) -> list[Row]:
    aggregate, by, keys = rest.partition(" by ")
    if not by:
        aggregate, keys = rest, ""
    if aggregate.strip().startswith("by "):
        aggregate, keys = "", aggregate.strip()[3:]
    aggregate = aggregate.strip()
    if aggregate not in ("", "count()"):
        raise _invalid("the emulator summarizes with count() only")
    cols = _assignments(keys) if keys.strip() else []
    groups: dict[str, Row] = {}
    for r in rows:
        key_row = {name: expr(r) for name, expr in cols}
        entry = groups.setdefault(json.dumps(key_row, sort_keys=True, default=str), {**key_row, "count_": 0})
        entry["count_"] += 1
    out = list(groups.values())
    if not aggregate:
        for r in out:
            r.pop("count_")
    return out


def _order(word: str, rest: str, rows: list[Row]) -> list[Row]:
    tokens = rest.split()
    n = None
    if word == "top":
        if len(tokens) < 3 or not tokens[0].isdigit() or tokens[1].lower() != "by":
            raise _invalid("top N by COLUMN")
        n, tokens = int(tokens[0]), tokens[2:]
    elif not tokens or tokens[0].lower() != "by":
        raise _invalid(f"{word} by COLUMN")
    else:
        tokens = tokens[1:]
    column = tokens[0]
    descending = not (len(tokens) > 1 and tokens[1].lower() == "asc")
    ranked = sorted(rows, key=lambda r: (r.get(column) is None, r.get(column)), reverse=descending)
    return ranked[:n] if n is not None else ranked


def _row(resource: Mapping[str, Any]) -> Row:
    """A resource as Resource Graph's ``Resources`` table holds it (``type`` lower-cased)."""
    rid = resource["id"]
    parts = rid.split("/")
    lowered = [p.lower() for p in parts]
    rg = parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""
    return {
        "id": rid,
        "name": resource.get("name", ""),
        "type": str(resource.get("type", "")).lower(),
        "tenantId": "00000000-0000-0000-0000-000000000000",
        "kind": resource.get("kind", ""),
        "location": resource.get("location", ""),
        "resourceGroup": rg.lower(),
        "subscriptionId": parts[2] if len(parts) > 2 else "",
        "managedBy": "",
        "sku": deep_copy(resource.get("sku")),
        "plan": deep_copy(resource.get("plan")),
        "properties": deep_copy(resource.get("properties", {})),
        "tags": deep_copy(resource.get("tags", {})),
        "identity": deep_copy(resource.get("identity")),
        "zones": deep_copy(resource.get("zones")),
    }


def _scoped(resources: Iterable[Mapping[str, Any]], subscriptions: list[str] | None) -> list[Row]:
    wanted = {s.lower() for s in subscriptions} if subscriptions else None
    rows = [_row(r) for r in resources]
    return [r for r in rows if wanted is None or r["subscriptionId"].lower() in wanted]


def _skip_of(token: str) -> int:
    try:
        data = json.loads(base64.b64decode(token.encode(), validate=True).decode())
        skip = data["skip"] if isinstance(data, dict) else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("the $skipToken is invalid") from exc
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise _invalid("the $skipToken is invalid")
    return skip


def _table(rows: list[Row]) -> dict[str, Any]:
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r if k not in names)

    def kind(values: list[Any]) -> str:
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            return "boolean"
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            return "integer" if all(isinstance(v, int) for v in present) else "number"
        if present and all(isinstance(v, str) for v in present):
            return "string"
        return "object"

    columns = [{"name": n, "type": kind([r.get(n) for r in rows])} for n in names]
    return {"columns": columns, "rows": [[r.get(n) for n in names] for r in rows]}


def query(b: ArmBackend, call: Call) -> Reply:
    """``Resources``: the query over the scope's resources, one page of it."""
    mode = b.resource_graph()
    if mode == "deny":
        scope = ",".join(call.body.get("subscriptions") or []) or "tenant"
        raise ArmError(
            403, "AuthorizationFailed",
            "The client 'emulator-client' with object id '00000000-0000-0000-0000-000000000000' does not have "
            f"authorization to perform action 'Microsoft.ResourceGraph/resources/read' over scope '{scope}' or the "
            "scope is invalid. If access was recently granted, please refresh your credentials.",
        )
    if mode == "absent":
        raise ArmError(404, "InvalidResourceNamespace",
                       "The resource namespace 'Microsoft.ResourceGraph' is invalid.")
    body = call.body
    options = body.get("options") or {}
    top = options.get("$top", DEFAULT_TOP)
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_TOP:
        raise _invalid(f"$top must be between 1 and {MAX_TOP}")
    skip = options.get("$skip", 0)
    token = options.get("$skipToken")
    if token:
        skip = _skip_of(str(token))
    rows = _scoped((r for _, r in b.resources.sorted_items()), body.get("subscriptions"))
    result, truncated, _ = run_query(str(body["query"]), rows)
    page = result[skip:skip + top]
    answer: dict[str, Any] = {
        "totalRecords": len(result),
        "count": len(page),
        "resultTruncated": "true" if truncated else "false",
        "data": _table(page) if options.get("resultFormat") == "table" else page,
        "facets": [
            {"expression": f.get("expression", ""), "resultType": "FacetError",
             "errors": [{"code": "NotSupported", "message": "the emulator does not evaluate facets"}]}
            for f in body.get("facets") or []
        ],
    }
    if not truncated and skip + top < len(result):
        answer["$skipToken"] = base64.b64encode(json.dumps({"skip": skip + top}).encode()).decode()
    return Reply(200, answer, definition="resourcegraph.QueryResponse")


HANDLERS: dict[str, Handler] = {"Resources": query}
