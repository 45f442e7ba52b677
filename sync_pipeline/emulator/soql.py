"""The SOQL subset a marketing sync uses: a parser, and a compiler to SQLite SQL over the org's tables.

Supported: field lists with parent relationships (``Owner.Email``, ``Contact.Account.Name``), ``COUNT()``,
``COUNT(field)``/``SUM``/``MIN``/``MAX``/``AVG`` with aliases and ``GROUP BY``, ``WHERE`` with ``AND``/``OR``/``NOT``,
comparisons, ``IN``/``NOT IN``, ``LIKE``, ``INCLUDES``/``EXCLUDES``, ``NULL``, unquoted date and datetime literals in
every form ``format_soql`` and people write, relative date literals (``TODAY``, ``LAST_N_DAYS:n``...),
``ORDER BY`` with ``NULLS FIRST|LAST``, ``LIMIT`` and ``OFFSET``. Text comparisons are case-insensitive, as in
Salesforce (text columns are stored ``COLLATE NOCASE``). Errors carry Salesforce's codes and message shapes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sync_pipeline.emulator import ids
from sync_pipeline.emulator.schema import FieldSpec, ObjectSpec, object_spec

_T = TypeVar("_T")


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is its errorCode, ``message`` its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- lexer -----------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\d:T])
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\",
            "%": "\\%", "_": "\\_"}
AGGREGATE_FUNCTIONS = ("count", "count_distinct", "sum", "min", "max", "avg")
KEYWORDS = {
    "select", "from", "where", "and", "or", "not", "in", "like", "includes", "excludes", "order", "by", "asc", "desc",
    "nulls", "first", "last", "limit", "offset", "group", "null", "true", "false", "having", "with", "using", "typeof",
}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int

    @property
    def lower(self) -> str:
        return self.text.lower()


def _tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(soql):
        match = _TOKEN.match(soql, position)
        if not match:
            raise _malformed(soql, position + 1, f"unexpected token: '{soql[position:].split()[0]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(Token("end", "", len(soql) + 1))
    return tokens


def _malformed(soql: str, column: int, text: str, code: str = "MALFORMED_QUERY") -> SoqlError:
    return SoqlError(code, f"\n{soql}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{text}")


# --- syntax tree -----------------------------------------------------------------------------------------------------

@dataclass
class FieldRef:
    path: list[str]
    column: int

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass
class Aggregate:
    function: str  # count, count_distinct, sum, min, max, avg
    argument: FieldRef | None
    alias: str | None


def _is_count_only(item: FieldRef | Aggregate) -> bool:
    """``COUNT()``: the whole SELECT list of a query that counts rows."""
    return isinstance(item, Aggregate) and item.function == "count" and item.argument is None


@dataclass
class Literal:
    kind: str  # string, number, boolean, null, date, datetime, relative
    value: Any
    column: int
    quoted: bool = False


@dataclass
class Condition:
    op: str  # and, or, not, cmp, in, notin, like, includes, excludes
    left: Any = None
    right: Any = None
    field: FieldRef | None = None
    values: list[Literal] = dataclasses.field(default_factory=list)


@dataclass
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    soql: str
    object_name: str
    object_column: int
    fields: list[FieldRef | Aggregate]
    count_only: bool = False
    where: Condition | None = None
    group_by: list[FieldRef] = dataclasses.field(default_factory=list)
    order_by: list[OrderItem] = dataclasses.field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = _tokenize(soql)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def _error(self, token: Token | None = None) -> SoqlError:
        token = token or self.current
        text = token.text or "<EOF>"
        return _malformed(self.soql, token.column, f"unexpected token: '{text}'")

    def _accept(self, *words: str) -> bool:
        if self.current.kind == "name" and self.current.lower in words:
            self.index += 1
            return True
        return False

    def _expect(self, word: str) -> None:
        if not self._accept(word):
            raise self._error()

    def _accept_punct(self, char: str) -> bool:
        if self.current.kind == "punct" and self.current.text == char:
            self.index += 1
            return True
        return False

    def _expect_punct(self, char: str) -> None:
        if not self._accept_punct(char):
            raise self._error()

    def parse(self) -> Query:
        self._expect("select")
        fields = self._select_list()
        self._expect("from")
        obj = self.current
        if obj.kind != "name":
            raise self._error()
        self._advance()
        query = Query(self.soql, obj.text, obj.column, fields, count_only=any(map(_is_count_only, fields)))
        self._clauses(query)
        if self.current.kind != "end":
            raise self._error()
        return query

    def _select_list(self) -> list[FieldRef | Aggregate]:
        fields = self._comma_list(self._select_item)
        if any(map(_is_count_only, fields)) and len(fields) > 1:
            raise _malformed(self.soql, self.current.column, "COUNT() must be the only element of the SELECT list")
        return fields

    def _select_item(self) -> FieldRef | Aggregate:
        token = self.current
        if token.kind == "punct" and token.text == "(":
            raise SoqlError("MALFORMED_QUERY", "parent-to-child subqueries are not supported by this org")
        if token.kind != "name" or token.lower in ("from",):
            raise self._error()
        name = self._advance()
        if self._accept_punct("("):
            return self._aggregate(name)
        return FieldRef(name.text.split("."), name.column)

    def _aggregate(self, name: Token) -> Aggregate:
        """The rest of ``name(``: ``COUNT()``, or a function of one field with an optional alias."""
        function = name.lower
        if function not in AGGREGATE_FUNCTIONS:
            raise _malformed(self.soql, name.column, f"Unknown function: {name.text}")
        if function == "count" and self._accept_punct(")"):
            return Aggregate("count", None, None)
        argument = self._field_ref()
        self._expect_punct(")")
        alias = None
        if self.current.kind == "name" and self.current.lower not in KEYWORDS:
            alias = self._advance().text
        return Aggregate(function, argument, alias)

    def _clauses(self, query: Query) -> None:
        """WHERE, GROUP BY, ORDER BY, LIMIT and OFFSET, each optional, in this order."""
        if self._accept("where"):
            query.where = self._or()
        if self._accept("group"):
            self._expect("by")
            query.group_by = self._comma_list(self._field_ref)
        if self._accept("order"):
            self._expect("by")
            query.order_by = self._comma_list(self._order_item)
        if self._accept("limit"):
            query.limit = self._integer()
        if self._accept("offset"):
            query.offset = self._integer()

    def _comma_list(self, item: Callable[[], _T]) -> list[_T]:
        items = [item()]
        while self._accept_punct(","):
            items.append(item())
        return items

    def _integer(self) -> int:
        token = self.current
        if token.kind != "number" or not token.text.isdigit():
            raise self._error()
        self._advance()
        return int(token.text)

    def _field_ref(self) -> FieldRef:
        token = self.current
        if token.kind != "name" or token.lower in KEYWORDS:
            raise self._error()
        self._advance()
        return FieldRef(token.text.split("."), token.column)

    def _order_item(self) -> OrderItem:
        ref = self._field_ref()
        descending = False
        if self._accept("desc"):
            descending = True
        else:
            self._accept("asc")
        nulls_first = not descending
        if self._accept("nulls"):
            if self._accept("first"):
                nulls_first = True
            elif self._accept("last"):
                nulls_first = False
            else:
                raise self._error()
        return OrderItem(ref, descending, nulls_first)

    def _or(self) -> Condition:
        left = self._and()
        while self._accept("or"):
            left = Condition("or", left, self._and())
        return left

    def _and(self) -> Condition:
        left = self._not()
        while self._accept("and"):
            left = Condition("and", left, self._not())
        return left

    def _not(self) -> Condition:
        if self._accept("not"):
            return Condition("not", self._not())
        if self._accept_punct("("):
            inner = self._or()
            self._expect_punct(")")
            return inner
        return self._predicate()

    def _predicate(self) -> Condition:
        ref = self._field_ref()
        token = self.current
        if token.kind == "op":
            self._advance()
            op = "!=" if token.text == "<>" else token.text
            return Condition("cmp", op, self._literal(), field=ref)
        if self._accept("like"):
            return Condition("like", field=ref, values=[self._literal()])
        negate = self._accept("not")
        if self._accept("in"):
            return Condition("notin" if negate else "in", field=ref, values=self._literal_list())
        if negate:
            raise self._error()
        if self._accept("includes"):
            return Condition("includes", field=ref, values=self._literal_list())
        if self._accept("excludes"):
            return Condition("excludes", field=ref, values=self._literal_list())
        raise self._error()

    def _literal_list(self) -> list[Literal]:
        self._expect_punct("(")
        if self.current.kind == "name" and self.current.lower == "select":
            raise SoqlError("MALFORMED_QUERY", "semi-join subqueries are not supported by this org")
        values = self._comma_list(self._literal)
        self._expect_punct(")")
        return values

    def _literal(self) -> Literal:
        token = self._advance()
        if token.kind == "string":
            return Literal("string", _unescape(token.text[1:-1]), token.column, quoted=True)
        if token.kind == "number":
            return Literal("number", float(token.text) if "." in token.text else int(token.text), token.column)
        if token.kind == "date":
            return Literal("date", _parse_date(self.soql, token), token.column)
        if token.kind == "datetime":
            return Literal("datetime", _parse_datetime(self.soql, token), token.column)
        if token.kind == "name":
            word = token.lower
            if word in ("true", "false"):
                return Literal("boolean", word == "true", token.column)
            if word == "null":
                return Literal("null", None, token.column)
            if word.upper() in _RELATIVE or word.upper() in _RELATIVE_N:
                amount = None
                if word.upper() in _RELATIVE_N:
                    self._expect_punct(":")
                    amount = self._integer()
                return Literal("relative", (word.upper(), amount), token.column)
        raise self._error(token)


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _parse_date(soql: str, token: Token) -> date:
    try:
        return date.fromisoformat(token.text)
    except ValueError:
        message = f"line 1:{token.column - 1} no viable alternative at character ' '"
        raise _malformed(soql, token.column, message) from None


def _parse_datetime(soql: str, token: Token) -> datetime:
    text = token.text
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise _malformed(soql, token.column, f"invalid date/time: {token.text}") from None


def parse(soql: str) -> Query:
    if not soql or not soql.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(soql).parse()


# --- relative date literals ------------------------------------------------------------------------------------------

_RELATIVE = {"TODAY", "YESTERDAY", "TOMORROW", "THIS_WEEK", "LAST_WEEK", "THIS_MONTH", "LAST_MONTH", "NEXT_MONTH",
             "THIS_YEAR", "LAST_YEAR", "LAST_90_DAYS", "NEXT_90_DAYS"}
_RELATIVE_N = {"LAST_N_DAYS", "NEXT_N_DAYS", "LAST_N_HOURS", "NEXT_N_HOURS", "LAST_N_MONTHS", "N_DAYS_AGO"}


def _month_start(day: date, delta: int = 0) -> date:
    month = day.month - 1 + delta
    return date(day.year + month // 12, month % 12 + 1, 1)


def relative_range(name: str, amount: int | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a relative date literal."""
    today = now.date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    day = timedelta(days=1)
    n = amount or 0
    ranges: dict[str, tuple[datetime, datetime]] = {
        "TODAY": (midnight, midnight + day),
        "YESTERDAY": (midnight - day, midnight),
        "TOMORROW": (midnight + day, midnight + 2 * day),
        "THIS_WEEK": (midnight - timedelta(days=(today.weekday() + 1) % 7),
                      midnight - timedelta(days=(today.weekday() + 1) % 7) + 7 * day),
        "LAST_WEEK": (midnight - timedelta(days=(today.weekday() + 1) % 7 + 7),
                      midnight - timedelta(days=(today.weekday() + 1) % 7)),
        "LAST_90_DAYS": (midnight - 90 * day, midnight + day),
        "NEXT_90_DAYS": (midnight + day, midnight + 91 * day),
        "LAST_N_DAYS": (midnight - n * day, midnight + day),
        "NEXT_N_DAYS": (midnight + day, midnight + (n + 1) * day),
        "N_DAYS_AGO": (midnight - n * day, midnight - (n - 1) * day),
        "LAST_N_HOURS": (now - timedelta(hours=n), now),
        "NEXT_N_HOURS": (now, now + timedelta(hours=n)),
    }
    if name in ranges:
        return ranges[name]
    months = {"THIS_MONTH": (0, 1), "LAST_MONTH": (-1, 0), "NEXT_MONTH": (1, 2), "LAST_N_MONTHS": (-n, 0)}
    if name in months:
        start, end = months[name]
        return (_as_dt(_month_start(today, start)), _as_dt(_month_start(today, end)))
    years = {"THIS_YEAR": 0, "LAST_YEAR": -1}
    year = today.year + years[name]
    return (_as_dt(date(year, 1, 1)), _as_dt(date(year + 1, 1, 1)))


def _as_dt(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- storage formats shared with the org store -----------------------------------------------------------------------

def datetime_to_storage(value: datetime) -> str:
    """Datetimes are stored as fixed-width UTC text so that text order is time order."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def sql_type(spec: FieldSpec) -> str:
    if spec.type in ("boolean", "int"):
        return "INTEGER"
    if spec.type in ("double", "currency", "percent"):
        return "REAL"
    if spec.type in ("date", "datetime"):
        return "TEXT"
    return "TEXT COLLATE NOCASE"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- compiler --------------------------------------------------------------------------------------------------------

# The literal kind a field type is compared with (every other field type takes a quoted string).
_LITERAL_KINDS = {"datetime": "datetime", "date": "date", "boolean": "boolean", "int": "number", "double": "number",
                  "currency": "number", "percent": "number"}

@dataclass
class OutputColumn:
    """One selected value: its path of relationships, the field, and the SQL expression index in the row."""

    path: list[str]  # canonical relationship names, e.g. ["Owner"]
    objects: list[str]  # object at each step, base first
    spec: FieldSpec | None  # None for aggregates
    key: str  # JSON key / CSV header
    index: int


@dataclass
class CompiledQuery:
    query: Query
    object: ObjectSpec
    select_sql: list[str]
    from_sql: str
    where_sql: str
    params: list[Any]
    order_sql: list[str]
    group_sql: list[str]
    columns: list[OutputColumn]
    parent_id_index: dict[tuple[str, ...], int]  # relationship path → index of the parent's Id in the row
    aggregate: bool

    def base_sql(self, include_deleted: bool) -> tuple[str, list[Any]]:
        """FROM ... WHERE ... without SELECT/ORDER, shared by counting, cursors and pages."""
        where = self.where_sql
        if not include_deleted:
            where = f"t0.IsDeleted = 0 AND ({where})" if where else "t0.IsDeleted = 0"
        sql = self.from_sql + (f" WHERE {where}" if where else "")
        return sql, list(self.params)

    def order_clause(self) -> str:
        return ", ".join([*self.order_sql, "t0.rowid"])


class _Compiler:
    def __init__(self, query: Query, now: datetime) -> None:
        self.query = query
        self.now = now
        spec = object_spec(query.object_name)
        if spec is None:
            raise _malformed(
                query.soql, query.object_column,
                f"sObject type '{query.object_name}' is not supported. If you are attempting to use a custom object, "
                "be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call "
                "for the appropriate names.", code="INVALID_TYPE")
        self.object = spec
        self.joins: dict[tuple[str, ...], tuple[str, ObjectSpec]] = {}
        self.join_sql: list[str] = []
        self.params: list[Any] = []

    def _resolve(self, ref: FieldRef) -> tuple[str, FieldSpec, list[str], list[str]]:
        """SQL column expression, field spec, canonical relationship path, and objects along the path."""
        current = self.object
        alias = "t0"
        path: list[str] = []
        objects = [current.name]
        parts = ref.path
        if len(parts) > 1 and parts[0].lower() == current.name.lower():
            parts = parts[1:]  # "Lead.Email" is allowed
        for rel in parts[:-1]:
            link = current.relationships.get(rel.lower())
            if link is None:
                raise self._no_such_column(ref, rel, current)
            path.append(link.relationship_name or rel)
            key = tuple(path)
            if key not in self.joins:
                target = object_spec(link.reference_to[0])
                assert target is not None
                join_alias = f"t{len(self.joins) + 1}"
                self.join_sql.append(
                    f"LEFT JOIN {quote_identifier(target.name)} AS {join_alias} "
                    f"ON {join_alias}.Id = {alias}.{quote_identifier(link.name)}"
                )
                self.joins[key] = (join_alias, target)
            alias, current = self.joins[key]
            objects.append(current.name)
        spec = current.field(parts[-1])
        if spec is None:
            raise self._no_such_column(ref, parts[-1], current)
        return f"{alias}.{quote_identifier(spec.name)}", spec, path, objects

    def _no_such_column(self, ref: FieldRef, name: str, obj: ObjectSpec) -> SoqlError:
        return _malformed(
            self.query.soql, ref.column,
            f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be sure "
            "to append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
            "the appropriate names.", code="INVALID_FIELD")

    def compile(self) -> CompiledQuery:
        query = self.query
        select_sql: list[str] = []
        columns: list[OutputColumn] = []
        aggregate = query.count_only or any(isinstance(item, Aggregate) for item in query.fields)
        expr_number = 0
        for item in query.fields:
            if isinstance(item, Aggregate):
                if item.argument is None:
                    select_sql.append("COUNT(*)")
                    key = "expr0"
                    spec = None
                else:
                    sql, spec, _, _ = self._resolve(item.argument)
                    function = {"count_distinct": "COUNT(DISTINCT {})"}.get(item.function,
                                                                           item.function.upper() + "({})")
                    select_sql.append(function.format(sql))
                    key = item.alias or f"expr{expr_number}"
                    expr_number += 0 if item.alias else 1
                    spec = spec if item.function in ("min", "max", "sum", "avg") else None
                columns.append(OutputColumn([], [self.object.name], spec, key, len(select_sql) - 1))
            else:
                sql, spec, path, objects = self._resolve(item)
                select_sql.append(sql)
                key = ".".join([*path, spec.name])
                if aggregate and not any(g.text.lower() == item.text.lower() for g in query.group_by):
                    raise _malformed(query.soql, item.column,
                                     f"Field must be grouped or aggregated: {spec.name}")
                columns.append(OutputColumn(path, objects, spec, spec.name if aggregate else key,
                                            len(select_sql) - 1))
        group_sql = [self._resolve(ref)[0] for ref in query.group_by]
        where_sql = self._condition(query.where) if query.where else ""
        order_sql = []
        for order in query.order_by:
            sql, _, _, _ = self._resolve(order.field)
            order_sql.append(f"{sql} {'DESC' if order.descending else 'ASC'} "
                             f"NULLS {'FIRST' if order.nulls_first else 'LAST'}")
        parent_id_index: dict[tuple[str, ...], int] = {}
        if not aggregate:
            select_sql.append("t0.Id")  # every record carries its url, whether or not Id was selected
            parent_id_index[()] = len(select_sql) - 1
            for join_path, (alias, _) in self.joins.items():
                select_sql.append(f"{alias}.Id")
                parent_id_index[join_path] = len(select_sql) - 1
        if query.offset is not None and query.offset > 2000:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        from_sql = f"FROM {quote_identifier(self.object.name)} AS t0 " + " ".join(self.join_sql)
        return CompiledQuery(query, self.object, select_sql, from_sql, where_sql, self.params, order_sql,
                             group_sql, columns, parent_id_index, aggregate)

    def _condition(self, cond: Condition) -> str:
        if cond.op in ("and", "or"):
            return f"({self._condition(cond.left)} {cond.op.upper()} {self._condition(cond.right)})"
        if cond.op == "not":
            return f"(NOT {self._condition(cond.left)})"
        assert cond.field is not None
        sql, spec, _, _ = self._resolve(cond.field)
        if cond.op == "cmp":
            return self._comparison(sql, spec, cond.left, cond.right, cond.field)
        if cond.op == "like":
            pattern = cond.values[0]
            if pattern.kind != "string":
                raise _malformed(self.query.soql, pattern.column, "LIKE needs a quoted string")
            self.params.append(pattern.value)
            return f"({sql} LIKE ? ESCAPE '\\')"
        if cond.op in ("in", "notin"):
            placeholders = []
            for literal in cond.values:
                placeholders.append("?")
                self.params.append(self._value(spec, literal, cond.field))
            clause = f"{sql} IN ({', '.join(placeholders)})"
            return f"({clause})" if cond.op == "in" else f"({sql} IS NULL OR NOT {clause})"
        # INCLUDES / EXCLUDES on multi-select picklists: ';'-separated values, any of the given ones.
        parts = []
        for literal in cond.values:
            self.params.extend([self._value(spec, literal, cond.field)] * 1)
            parts.append(f"(';' || {sql} || ';') LIKE ('%;' || ? || ';%')")
        clause = " OR ".join(parts)
        return f"({clause})" if cond.op == "includes" else f"({sql} IS NULL OR NOT ({clause}))"

    def _comparison(self, sql: str, spec: FieldSpec, op: str, literal: Literal, ref: FieldRef) -> str:
        if literal.kind == "null":
            if op == "=":
                return f"({sql} IS NULL)"
            if op == "!=":
                return f"({sql} IS NOT NULL)"
            raise _malformed(self.query.soql, literal.column, "null can only be compared with = or !=")
        if literal.kind == "relative":
            if spec.type not in ("date", "datetime"):
                raise self._type_error(spec, literal, ref)
            start, end = relative_range(literal.value[0], literal.value[1], self.now)
            lo, hi = (self._storage(spec, start), self._storage(spec, end))
            templates = {"=": "({0} >= ? AND {0} < ?)", "!=": "({0} < ? OR {0} >= ?)", "<": "({0} < ?)",
                         "<=": "({0} < ?)", ">": "({0} >= ?)", ">=": "({0} >= ?)"}
            values = {"=": [lo, hi], "!=": [lo, hi], "<": [lo], "<=": [hi], ">": [hi], ">=": [lo]}[op]
            self.params.extend(values)
            return templates[op].format(sql)
        value = self._value(spec, literal, ref)
        self.params.append(value)
        if op == "!=":
            return f"({sql} IS NULL OR {sql} != ?)"
        return f"({sql} {op} ?)"

    def _storage(self, spec: FieldSpec, moment: datetime) -> str:
        return moment.date().isoformat() if spec.type == "date" else datetime_to_storage(moment)

    def _type_error(self, spec: FieldSpec, literal: Literal, ref: FieldRef) -> SoqlError:
        wanted = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "integer",
                  "double": "double", "currency": "currency", "percent": "percent"}.get(spec.type, "string")
        quote_note = " and should not be enclosed in quotes" if literal.quoted and spec.type not in ("string",) else ""
        return _malformed(
            self.query.soql, literal.column,
            f"value of filter criterion for field '{spec.name}' must be of type {wanted}{quote_note}",
            code="INVALID_FIELD")

    def _value(self, spec: FieldSpec, literal: Literal, ref: FieldRef) -> Any:
        """The storage value of a literal compared with the field ``spec``; a type error when the kinds differ."""
        if literal.kind == "null":
            return None
        if literal.kind != _LITERAL_KINDS.get(spec.type, "string"):
            raise self._type_error(spec, literal, ref)
        if literal.kind == "datetime":
            return datetime_to_storage(literal.value)
        if literal.kind == "date":
            return literal.value.isoformat()
        if literal.kind == "boolean":
            return 1 if literal.value else 0
        if spec.type in ("id", "reference"):
            return ids.normalize(literal.value) or literal.value
        return literal.value


def compile_query(soql: str, now: datetime | None = None) -> CompiledQuery:
    """Parse and compile; raises SoqlError with Salesforce's code and message."""
    return _Compiler(parse(soql), now or datetime.now(UTC)).compile()


_APEX_TYPES = {"id": "Id", "reference": "Id", "boolean": "Boolean", "int": "Integer", "double": "Double",
               "currency": "Decimal", "percent": "Double", "date": "Date", "datetime": "Datetime"}


def column_metadata(compiled: CompiledQuery) -> dict[str, Any]:
    """What ``query?columns=true`` answers: the selected columns, a relationship's fields nested under it."""
    top: list[dict[str, Any]] = []
    parents: dict[str, dict[str, Any]] = {}
    for column in compiled.columns:
        entry = _column_entry(column)
        if not column.path:
            top.append(entry)
            continue
        parent = parents.get(column.path[0])
        if parent is None:
            parent = {**_column_entry(None), "columnName": column.path[0], "displayName": column.path[0]}
            parents[column.path[0]] = parent
            top.append(parent)
        parent["joinColumns"].append({**entry, "displayName": column.key})
    spec = compiled.object
    return {"columnMetadata": top, "entityName": spec.name, "groupBy": bool(compiled.query.group_by),
            "idSelected": any(not c.path and c.spec is not None and c.spec.name == "Id" for c in compiled.columns),
            "keyPrefix": spec.key_prefix}


def _column_entry(column: OutputColumn | None) -> dict[str, Any]:
    field = column.spec if column is not None else None
    kind = field.type if field is not None else ""
    name = field.name if field is not None else (column.key if column is not None else "")
    return {"aggregate": column is not None and field is None, "apexType": _APEX_TYPES.get(kind, "String") if kind
            else None, "booleanType": kind == "boolean", "columnName": name,
            "custom": name.endswith("__c"), "displayName": name, "foreignKeyName": None,
            "insertable": bool(field and field.createable), "joinColumns": [],
            "numberType": kind in ("int", "double", "currency", "percent"),
            "textType": bool(field and field.is_text and kind not in ("id", "reference")),
            "updatable": bool(field and field.updateable)}
