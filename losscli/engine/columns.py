"""Column selection (SPEC §1): explicit names, comma lists, globs, and auto-detection."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence

from losscli.catalogue.spec import Role
from losscli.errors import UsageError


class Selection:
    """The columns one loss reads: per role the ordered list (the last axis), plus extras."""

    __slots__ = ("group_by", "keep", "roles", "weight")

    def __init__(
        self,
        roles: dict[str, list[str]],
        weight: str | None = None,
        group_by: list[str] | None = None,
        keep: list[str] | None = None,
    ) -> None:
        self.roles = roles
        self.weight = weight
        self.group_by: list[str] = [] if group_by is None else group_by
        self.keep: list[str] = [] if keep is None else keep

    @property
    def numeric(self) -> list[str]:
        """Columns read as float64, each once, in a stable order."""
        names = [c for cols in self.roles.values() for c in cols]
        if self.weight:
            names.append(self.weight)
        return list(dict.fromkeys(names))

    @property
    def other(self) -> list[str]:
        """Key and carried columns (read as they are)."""
        return [c for c in dict.fromkeys(self.group_by + self.keep) if c not in self.numeric]


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return f"columns: {shown}" if names else "the input has no columns"


def split_list(text: str | None) -> list[str]:
    """``"a, b,c"`` → ``["a", "b", "c"]``."""
    if not text:
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


def _names_given(text: str, what: str) -> list[str]:
    """The names of an explicit column option; an empty name (``--pred ''``, ``a,,b``) is an
    error, never "no option" (which would silently fall back to detection)."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise UsageError(f"empty column name in the {what} columns {text!r}")
    return parts


def _unique(column: str, names: Sequence[str], file: str) -> None:
    """A column name held by two or more columns is ambiguous: an error naming the positions
    (1-based), never a silent choice of one."""
    if names.count(column) > 1:
        positions = [str(i + 1) for i, n in enumerate(names) if n == column]
        raise UsageError(
            f"column name '{column}' appears {len(positions)} times in {file} "
            f"(positions {', '.join(positions[:-1])} and {positions[-1]}): rename the "
            "duplicates so the choice is not ambiguous"
        )


def match_columns(pattern_list: str, names: Sequence[str], *, what: str, file: str) -> list[str]:
    """Resolve a comma list of names and globs against the file's columns, in list order
    (a glob expands in file order). A name that matches nothing is a usage error."""
    out: list[str] = []
    for part in _names_given(pattern_list, what):
        if any(ch in part for ch in "*?["):
            hits = [n for n in names if fnmatch.fnmatchcase(n, part)]
        elif part in names:
            hits = [part]
        else:
            hits = [n for n in names if n.lower() == part.lower()]
        if not hits:
            raise UsageError(f"{what} column '{part}' not found in {file}; {_listing(names)}")
        for hit in hits:
            _unique(hit, names, file)
        out.extend(h for h in hits if h not in out)
    if not out:
        raise UsageError(f"no {what} column given")
    return out


def detect(role: Role, names: Sequence[str], *, file: str) -> list[str]:
    """Find the role's column by its well-known names, case-insensitively."""
    wanted = set(role.auto_names)
    hits = [n for n in names if n.lower() in wanted]
    for hit in hits:
        _unique(hit, names, file)
    if len(hits) == 1:
        return hits
    if not hits:
        raise UsageError(
            f"cannot find a {role.name} column in {file} (looked for "
            f"{', '.join(role.auto_names)}); give it with {role.flag}; {_listing(names)}"
        )
    raise UsageError(
        f"several possible {role.name} columns in {file}: {', '.join(hits)}; "
        f"choose one with {role.flag}"
    )


def select(
    roles: Sequence[Role],
    options: Mapping[str, str | None],
    names: Sequence[str],
    *,
    file: str,
    weight: str | None = None,
    group_by: str | None = None,
    keep: str | None = None,
    paired: bool = True,
) -> Selection:
    """Resolve every role's columns (explicit or detected) and the weight/group/keep columns.

    With ``paired``, every role lists as many columns as the first (predictions and targets
    line up on the last axis).
    """
    chosen: dict[str, list[str]] = {}
    for role in roles:
        given = options.get(role.name)
        cols = (
            match_columns(given, names, what=role.name, file=file)
            if given is not None
            else detect(role, names, file=file)
        )
        if not role.multi and len(cols) != 1:
            raise UsageError(f"{role.flag} takes one column, got {len(cols)}: {', '.join(cols)}")
        chosen[role.name] = cols
    if paired and len(roles) > 1:
        first = roles[0]
        for role in roles[1:]:
            if role.multi and len(chosen[role.name]) != len(chosen[first.name]):
                raise UsageError(
                    f"{len(chosen[first.name])} {first.name} column(s) "
                    f"({', '.join(chosen[first.name])}) but {len(chosen[role.name])} "
                    f"{role.name} column(s) ({', '.join(chosen[role.name])})"
                )
    weight_col = None
    if weight is not None:
        weights = match_columns(weight, names, what="weight", file=file)
        if len(weights) != 1:
            raise UsageError("--weight takes exactly one column")
        weight_col = weights[0]
    _distinct_roles(chosen, weight_col)
    groups = (
        match_columns(group_by, names, what="group-by", file=file) if group_by is not None else []
    )
    kept = match_columns(keep, names, what="keep", file=file) if keep is not None else []
    return Selection(chosen, weight_col, groups, kept)


def _distinct_roles(chosen: Mapping[str, list[str]], weight: str | None) -> None:
    """One column in two input roles (``--pred y --target y``), or an input that is also the
    weight, scores a column against itself: an error, not a meaningless number. (Group-by and
    --keep columns may be inputs too: a per-class loss groups by its target.)"""
    owner: dict[str, str] = {}
    roles = [(role, col) for role, cols in chosen.items() for col in dict.fromkeys(cols)]
    if weight is not None:
        roles.append(("weight", weight))
    for role, col in roles:
        first = owner.setdefault(col, role)
        if first != role:
            raise UsageError(
                f"column '{col}' is selected as both {first} and {role}: choose different columns"
            )
