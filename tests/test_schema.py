"""Tests for the conversion between result types and JSON Schema."""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, Union, cast

import abxbus
import attrs
import cattrs.preconf.json
import pydantic
import pytest
from abxbus.jsonschema import (
    pydantic_model_to_json_schema,
    validate_result_against_type,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import triobus._schema
from triobus._schema import (
    JSON_SCHEMA_DRAFT,
    _read_schema_cached,
    _write_schema_cached,
    schema_to_type,
    type_to_schema,
)

# Result types used across the tests. The attrs classes have pydantic twins
# of the same name and shape (see _pydantic_twins) to compare with abxbus.


class Colour(enum.Enum):
    """Colours a point may have."""

    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Mixed(enum.Enum):
    NUMBER = 1
    WORD = "word"


@attrs.define
class Point:
    """A point on the plane."""

    x: int
    y: int = 0
    label: str | None = None
    colour: Colour = Colour.RED
    tags: list[str] = attrs.Factory(list)


@attrs.define
class Shape:
    name: str
    corners: list[Point]
    centre: Point | None = None
    meta: dict[str, float] = attrs.Factory(dict)
    kind: Literal["open", "closed"] = "closed"
    size: tuple[int, int] = (1, 1)
    colours: Colour | None = None


@attrs.define
class Tree:
    """A tree of integers."""

    value: int
    children: list[Tree] = attrs.Factory(list)


@attrs.define
class Reading:
    sensor: str
    values: list[float]
    unit: Literal["C", "F"] = "C"
    note: str | None = None


@attrs.define
class Segment:
    start: Reading
    end: Reading | None = None
    weights: dict[str, int] = attrs.Factory(dict)


@attrs.define
class Hidden:
    shown: int
    hidden: int = attrs.field(init=False, default=0)


@attrs.define
class Empty:
    pass


@attrs.define
class HoldsBytes:
    payload: bytes


@attrs.define
class Dangling:
    other: NotDefinedAnywhere  # noqa: F821


T = TypeVar("T")


def _pydantic_twins() -> dict[str, type[pydantic.BaseModel]]:
    """Build pydantic models with the names and fields of the attrs classes."""

    class Point(pydantic.BaseModel):
        """A point on the plane."""

        x: int
        y: int = 0
        label: str | None = None
        colour: Colour = Colour.RED
        tags: list[str] = pydantic.Field(default_factory=list)

    class Shape(pydantic.BaseModel):
        name: str
        corners: list[Point]
        centre: Point | None = None
        meta: dict[str, float] = pydantic.Field(default_factory=dict)
        kind: Literal["open", "closed"] = "closed"
        size: tuple[int, int] = (1, 1)
        colours: Colour | None = None

    class Tree(pydantic.BaseModel):
        """A tree of integers."""

        value: int
        children: list[Tree] = pydantic.Field(default_factory=list)

    class Empty(pydantic.BaseModel):
        pass

    for model in (Point, Shape, Tree, Empty):
        model.model_rebuild()
    return {"Point": Point, "Shape": Shape, "Tree": Tree, "Empty": Empty}


TWINS = _pydantic_twins()


def abxbus_schema(result_type: object) -> object:
    """Return the ``event_result_type`` abxbus writes for ``result_type``."""
    event_class = abxbus.BaseEvent[result_type]
    dumped = event_class(event_type="Probe").model_dump(mode="json")
    return dumped["event_result_type"]


def make_union(members: tuple[object, ...]) -> object:
    """Build ``Union[members]`` from a runtime tuple."""
    return cast(Any, Union)[members]


def make_literal(values: tuple[object, ...]) -> object:
    """Build ``Literal[values]`` from a runtime tuple."""
    return cast(Any, Literal)[values]


def draft(schema: dict[str, object]) -> dict[str, object]:
    """Return ``schema`` with the ``$schema`` key the top level carries."""
    return {**schema, "$schema": JSON_SCHEMA_DRAFT}


# Writing schemas: concrete examples.


def test_no_result_type_gives_no_schema() -> None:
    """``None`` means results are not validated, so there is no schema."""
    assert type_to_schema(None) is None


@pytest.mark.parametrize(
    ("result_type", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (type(None), {"type": "null"}),
        (list[int], {"items": {"type": "integer"}, "type": "array"}),
        (typing.List[str], {"items": {"type": "string"}, "type": "array"}),  # noqa: UP006
        (list, {"items": {}, "type": "array"}),
        (
            set[int],
            {"items": {"type": "integer"}, "type": "array", "uniqueItems": True},
        ),
        (
            frozenset[str],
            {"items": {"type": "string"}, "type": "array", "uniqueItems": True},
        ),
        (tuple[int, ...], {"items": {"type": "integer"}, "type": "array"}),
        (
            tuple[int, str],
            {
                "maxItems": 2,
                "minItems": 2,
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "type": "array",
            },
        ),
        (tuple[()], {"maxItems": 0, "minItems": 0, "type": "array"}),
        (
            dict[str, int],
            {"additionalProperties": {"type": "integer"}, "type": "object"},
        ),
        (dict[str, Any], {"additionalProperties": True, "type": "object"}),
        (
            dict[int, str],
            {"additionalProperties": {"type": "string"}, "type": "object"},
        ),
        (str | None, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        (
            # typing's spelling, with None first on purpose: null still goes last.
            Union[None, int, str],  # noqa: UP007
            {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        ),
        (str | int, {"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        (Literal["a"], {"const": "a", "type": "string"}),
        (Literal["a", "b"], {"enum": ["a", "b"], "type": "string"}),
        (Literal[1, "a"], {"enum": [1, "a"]}),
        (Literal[1, True], {"enum": [1, True]}),
        (Literal[None], {"const": None, "type": "null"}),
        (Literal[Colour.GREEN], {"const": "green", "type": "string"}),
        (Annotated[int, "metadata"], {"type": "integer"}),
        (
            Size,
            {"enum": [1, 2], "title": "Size", "type": "integer"},
        ),
        (Mixed, {"enum": [1, "word"], "title": "Mixed"}),
        (Empty, {"properties": {}, "title": "Empty", "type": "object"}),
        (
            Hidden,
            {
                "properties": {"shown": {"title": "Shown", "type": "integer"}},
                "required": ["shown"],
                "title": "Hidden",
                "type": "object",
            },
        ),
    ],
)
def test_types_are_written_as_the_expected_schema(
    result_type: object, expected: dict[str, object]
) -> None:
    """Each supported type is written as the schema pydantic would write."""
    assert type_to_schema(result_type) == draft(expected)


@pytest.mark.parametrize("result_type", [Any, object])
def test_any_and_object_are_written_as_the_empty_schema(result_type: object) -> None:
    """An unconstrained type gives ``{}`` without ``$schema``, as abxbus does."""
    assert type_to_schema(result_type) == {}


def test_schema_keys_are_sorted_with_the_draft_last() -> None:
    """The JSON text has sorted keys and ``$schema`` at the end, like abxbus."""
    schema = type_to_schema(tuple[int, str])

    assert schema is not None
    assert list(schema) == ["maxItems", "minItems", "prefixItems", "type", "$schema"]


def test_enum_inside_a_container_is_referenced_from_defs() -> None:
    """An enum below the top level lives in ``$defs`` and is reached by $ref."""
    assert type_to_schema(list[Colour]) == draft(
        {
            "$defs": {
                "Colour": {
                    "description": "Colours a point may have.",
                    "enum": ["red", "green"],
                    "title": "Colour",
                    "type": "string",
                }
            },
            "items": {"$ref": "#/$defs/Colour"},
            "type": "array",
        }
    )


def test_attrs_class_is_written_as_an_object_with_properties() -> None:
    """Fields become properties in order; those without defaults are required."""
    schema = type_to_schema(Point)

    assert schema is not None
    assert schema["title"] == "Point"
    assert schema["description"] == "A point on the plane."
    assert schema["required"] == ["x"]
    properties = cast(dict[str, object], schema["properties"])
    assert list(properties) == ["x", "y", "label", "colour", "tags"]
    assert properties["y"] == {"default": 0, "title": "Y", "type": "integer"}
    assert properties["colour"] == {"$ref": "#/$defs/Colour", "default": "red"}
    # A factory default has no value to write, as with pydantic's
    # default_factory.
    assert properties["tags"] == {
        "items": {"type": "string"},
        "title": "Tags",
        "type": "array",
    }


def test_nested_attrs_classes_are_referenced_from_defs() -> None:
    """A class used by the top-level class goes in ``$defs`` once."""
    schema = type_to_schema(Shape)

    assert schema is not None
    defs = cast(dict[str, object], schema["$defs"])
    assert list(defs) == ["Colour", "Point"]
    properties = cast(dict[str, dict[str, object]], schema["properties"])
    assert properties["corners"]["items"] == {"$ref": "#/$defs/Point"}
    assert properties["centre"] == {
        "anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}],
        "default": None,
    }


def test_recursive_attrs_class_refers_to_the_root_as_hash() -> None:
    """A class that contains itself refers back to the document root."""
    schema = type_to_schema(Tree)

    assert schema is not None
    assert "$defs" not in schema
    properties = cast(dict[str, dict[str, object]], schema["properties"])
    assert properties["children"]["items"] == {"$ref": "#"}


def test_recursive_attrs_class_below_the_top_is_referenced_by_name() -> None:
    """Inside a container a recursive class refers to its own ``$defs`` entry."""
    schema = type_to_schema(list[Tree])

    assert schema is not None
    defs = cast(dict[str, dict[str, dict[str, dict[str, object]]]], schema["$defs"])
    children = defs["Tree"]["properties"]["children"]
    assert children["items"] == {"$ref": "#/$defs/Tree"}


def test_classes_sharing_a_name_get_distinct_defs_entries() -> None:
    """Two classes called ``Point`` are named by module and qualified name."""

    @attrs.define
    class Point:
        z: int

    schema = type_to_schema(tuple[globals()["Point"], Point])

    assert schema is not None
    defs = cast(dict[str, dict[str, object]], schema["$defs"])
    points = {name for name, d in defs.items() if d["title"] == "Point"}
    assert points == {
        "test_schema__Point",
        "test_schema__test_classes_sharing_a_name_get_distinct_defs_entries"
        "___locals___Point",
    }
    prefix = cast(list[dict[str, str]], schema["prefixItems"])
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in prefix} == points


def test_returned_schema_is_a_copy_the_caller_may_change() -> None:
    """Changing a returned schema does not change the cached one."""
    first = type_to_schema(list[int])
    assert first is not None
    cast(dict[str, object], first["items"])["type"] = "string"

    assert type_to_schema(list[int]) == draft(
        {"items": {"type": "integer"}, "type": "array"}
    )


def test_union_member_order_survives_the_cache() -> None:
    """Equal unions in different orders keep their own ``anyOf`` order."""
    first = type_to_schema(int | str)
    second = type_to_schema(str | int)

    assert first == draft({"anyOf": [{"type": "integer"}, {"type": "string"}]})
    assert second == draft({"anyOf": [{"type": "string"}, {"type": "integer"}]})


def test_union_members_with_one_schema_are_written_once() -> None:
    """Members that write the same schema collapse, and a lone one stands alone."""
    assert type_to_schema(list[int] | tuple[int, ...]) == draft(
        {"items": {"type": "integer"}, "type": "array"}
    )
    assert type_to_schema(Annotated[None, "metadata"] | None) == draft({"type": "null"})
    assert type_to_schema(Any | object) == {}


def test_union_members_that_differ_only_in_json_type_stay_apart() -> None:
    """``1`` and ``True`` are equal in Python but not in JSON, so both remain."""
    assert type_to_schema(Literal[1] | Literal[True]) == draft(
        {
            "anyOf": [
                {"const": 1, "type": "integer"},
                {"const": True, "type": "boolean"},
            ]
        }
    )


def test_union_nested_through_annotated_is_flattened() -> None:
    """A union inside ``Annotated`` joins the outer union, as pydantic writes it."""
    assert type_to_schema(int | Annotated[str | None, "metadata"]) == draft(
        {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}
    )


def test_repeated_writes_are_served_from_the_cache() -> None:
    """A second write of the same type does not build the schema again."""
    type_to_schema(dict[str, list[float]])
    hits = _write_schema_cached.cache_info().hits

    type_to_schema(dict[str, list[float]])

    assert _write_schema_cached.cache_info().hits == hits + 1


def test_unhashable_type_is_written_without_the_cache() -> None:
    """A type that cannot be hashed is still written."""
    unhashable = Annotated[int, ["unhashable", "metadata"]]

    assert type_to_schema(unhashable) == draft({"type": "integer"})


class _NotJSONEnum(enum.Enum):
    PAIR = (1, 2)


@pytest.mark.parametrize(
    ("result_type", "named"),
    [
        (bytes, "bytes"),
        (complex, "complex"),
        (T, "~T"),
        (typing.Callable[[], int], "Callable"),
        (dict[tuple[int, int], str], "tuple[int, int]"),
        (list[bytes], "bytes"),
        (Literal[b"raw"], "b'raw'"),
        (_NotJSONEnum, "_NotJSONEnum"),
        (HoldsBytes | None, "bytes"),
    ],
)
def test_unsupported_types_raise_type_error_naming_them(
    result_type: object, named: str
) -> None:
    """A type with no JSON Schema is refused, and the message says which."""
    with pytest.raises(TypeError, match="JSON Schema") as info:
        type_to_schema(result_type)

    assert named in str(info.value)


def test_unsupported_field_type_is_located_by_a_note() -> None:
    """The error for a bad field names the field and its class in a note."""
    with pytest.raises(TypeError) as info:
        type_to_schema(HoldsBytes)

    assert "in field 'payload' of HoldsBytes" in info.value.__notes__


def test_unresolvable_annotation_raises_type_error() -> None:
    """A field annotation that does not evaluate is a TypeError, not NameError."""
    with pytest.raises(TypeError, match=r"Dangling.*do not resolve"):
        type_to_schema(Dangling)


# Wire compatibility with abxbus.

WIRE_TYPES: list[object] = [
    str,
    int,
    float,
    bool,
    type(None),
    Any,
    object,
    list[int],
    list[Any],
    list,
    dict,
    tuple,
    set[int],
    frozenset[str],
    dict[str, int],
    dict[str, Any],
    dict[int, str],
    dict[str, list[int]],
    tuple[int, ...],
    tuple[int, str],
    tuple[()],
    str | None,
    Any | None,
    str | int,
    int | str | None,
    Union[None, int, str],  # noqa: UP007 (typing's spelling, None first)
    list[int | None],
    Literal["a"],
    Literal["a", "b"],
    Literal[1, 2],
    Literal[1, "a"],
    Literal[True],
    Literal[None],
    Literal["a", None],
    Literal[1.5],
    Literal[Colour.RED],
    Literal["a", "b"] | None,
    Literal["a"] | Literal["b"],
    Colour,
    Size,
    Mixed,
    list[Colour],
    Colour | None,
    dict[str, Colour],
    Annotated[int, "metadata"],
    list[int] | tuple[int, ...],
    Any | object,
    Literal[1] | Literal[True],
    int | Annotated[str | None, "metadata"],
]


@pytest.mark.parametrize("result_type", WIRE_TYPES, ids=repr)
def test_schemas_match_what_abxbus_writes(result_type: object) -> None:
    """Our schema is abxbus's schema, down to the order of keys in the JSON."""
    ours = type_to_schema(result_type)
    theirs = abxbus_schema(result_type)

    assert ours == theirs
    assert json.dumps(ours) == json.dumps(theirs)


ATTRS_CASES: list[tuple[object, object]] = [
    (Point, TWINS["Point"]),
    (Shape, TWINS["Shape"]),
    (Tree, TWINS["Tree"]),
    (Empty, TWINS["Empty"]),
    (list[Tree], list[TWINS["Tree"]]),
    (Shape | None, TWINS["Shape"] | None),
    (dict[str, Point], dict[str, TWINS["Point"]]),
    (
        Point | Annotated[Point, "metadata"] | None,
        TWINS["Point"] | Annotated[TWINS["Point"], "metadata"] | None,
    ),
]


@pytest.mark.parametrize(("attrs_type", "pydantic_type"), ATTRS_CASES, ids=repr)
def test_attrs_classes_match_equivalent_pydantic_models(
    attrs_type: object, pydantic_type: object
) -> None:
    """An attrs class is written as abxbus writes its pydantic twin."""
    ours = type_to_schema(attrs_type)
    theirs = abxbus_schema(pydantic_type)

    assert ours == theirs
    assert json.dumps(ours) == json.dumps(theirs)


def test_abxbus_validates_cattrs_values_against_our_schemas() -> None:
    """abxbus accepts values that fit our schema and rejects values that do not.

    The classes hold no enums: abxbus turns every ``$defs`` entry into a
    model, so it rejects enum values reached through ``$ref`` even in the
    schemas it writes itself.
    """
    converter = cattrs.preconf.json.make_converter()
    segment = Segment(
        start=Reading("a", [1.0, 2.5], note="warm"),
        end=Reading("b", [], unit="F"),
        weights={"a": 1},
    )
    tree = Tree(1, [Tree(2), Tree(3, [Tree(4)])])
    cases: list[tuple[object, object]] = [
        (Segment, segment),
        (Tree, tree),
        (list[Tree], [tree]),
        (dict[str, Reading], {"x": Reading("x", [0.5])}),
        (tuple[Reading, int], (Reading("y", []), 3)),
    ]

    for result_type, value in cases:
        schema = type_to_schema(result_type)
        validate_result_against_type(schema, converter.unstructure(value))

    bad = converter.unstructure(segment)
    bad["end"]["unit"] = "K"
    with pytest.raises(pydantic.ValidationError):
        validate_result_against_type(type_to_schema(Segment), bad)


READ_CASES: list[tuple[object, object]] = [
    (str, str),
    (int, int),
    (float, float),
    (bool, bool),
    (type(None), type(None)),
    (Any, Any),
    (list[int], list[int]),
    (list[Any], list[Any]),
    (dict[str, int], dict[str, int]),
    (dict[str, Any], dict[str, Any]),
    (set[int], set[int]),
    (tuple[int, ...], list[int]),
    (tuple[int, str], tuple[int, str]),
    (tuple[()], tuple[()]),
    (str | None, str | None),
    (str | int, str | int),
    (Literal["a"], Literal["a"]),
    (Literal["a", "b"], Literal["a", "b"]),
    (Literal[1, "a"], Literal[1, "a"]),
    (Colour, Literal["red", "green"]),
    (Size, Literal[1, 2]),
    (list[Colour], list[Literal["red", "green"]]),
    (Colour | None, Literal["red", "green"] | None),
    (TWINS["Point"], dict[str, Any]),
    (TWINS["Shape"], dict[str, Any]),
    (TWINS["Tree"], dict[str, Any]),
    (list[TWINS["Point"]], list[dict[str, Any]]),
    (TWINS["Point"] | None, dict[str, Any] | None),
]


@pytest.mark.parametrize(("result_type", "expected"), READ_CASES, ids=repr)
def test_schemas_written_by_abxbus_read_back_as_expected_types(
    result_type: object, expected: object
) -> None:
    """What abxbus writes for a type reads back as that type or its stand-in."""
    assert schema_to_type(abxbus_schema(result_type)) == expected


# Reading schemas: concrete examples.


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({}, Any),
        ({"title": "Anything", "description": "no constraints"}, Any),
        ({"type": ["string", "null"]}, str | None),
        (
            {"type": ["array", "null"], "items": {"type": "integer"}},
            list[int] | None,
        ),
        ({"type": []}, Any),
        ({"oneOf": [{"type": "integer"}, {"type": "boolean"}]}, int | bool),
        ({"anyOf": []}, Any),
        ({"allOf": [{"type": "string"}]}, str),
        ({"allOf": [{"type": "string"}, {"minLength": 1}]}, Any),
        ({"const": 3}, Literal[3]),
        ({"enum": ["x", None, 2, False]}, Literal["x", None, 2, False]),
        ({"enum": [[1], {"a": 1}]}, Any),
        ({"enum": []}, Any),
        ({"type": "array"}, list[Any]),
        ({"type": "array", "items": True}, list[Any]),
        ({"type": "array", "items": False}, tuple[()]),
        ({"type": "array", "prefixItems": [{"type": "string"}]}, tuple[str]),
        (
            {"type": "array", "prefixItems": [{}], "items": False},
            tuple[Any],
        ),
        ({"type": "object"}, dict[str, Any]),
        ({"type": "object", "additionalProperties": False}, dict[str, Any]),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}},
                "additionalProperties": {"type": "string"},
            },
            dict[str, Any],
        ),
        ({"type": "string", "format": "binary"}, str),
        ({"type": "no-such-type"}, Any),
        ({"not": {"type": "string"}}, Any),
        ({"$ref": "https://example.com/other.json"}, Any),
        ({"$ref": "#/$defs/Missing"}, Any),
        (
            {"$defs": {"Name": {"type": "string"}}, "$ref": "#/$defs/Name"},
            str,
        ),
        (
            {
                "definitions": {"a/b": {"type": "integer"}},
                "items": {"$ref": "#/definitions/a~1b"},
                "type": "array",
            },
            list[int],
        ),
        (
            {
                "$defs": {"Loop": {"type": "array", "items": {"$ref": "#/$defs/Loop"}}},
                "$ref": "#/$defs/Loop",
            },
            list[Any],
        ),
        ({"type": "array", "items": {"$ref": "#"}}, list[Any]),
        (
            {
                "$defs": {"pair": [{"type": "string"}, {"type": "integer"}]},
                "items": {"$ref": "#/$defs/pair/1"},
                "type": "array",
            },
            list[int],
        ),
        (
            {
                "$defs": {"pair": [{"type": "string"}]},
                "items": {"$ref": "#/$defs/pair/1"},
                "type": "array",
            },
            list[Any],
        ),
    ],
)
def test_schemas_read_back_as_the_expected_types(
    schema: dict[str, object], expected: object
) -> None:
    """Each schema maps to the type it describes, or to Any where none fits."""
    assert schema_to_type(schema) == expected


def test_schema_nested_past_the_limit_reads_as_any_there() -> None:
    """Very deep nesting does not recurse without bound; the depths read as Any."""
    schema: dict[str, object] = {"type": "string"}
    for _ in range(200):
        schema = {"type": "array", "items": schema}

    result = schema_to_type(schema)

    while typing.get_origin(result) is list:
        result = typing.get_args(result)[0]
    assert result is Any


def test_references_shared_many_times_are_resolved_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Definitions that each use the next twice do not cost exponential time."""
    levels = 12
    defs: dict[str, object] = {f"d{levels}": {"type": "integer"}}
    expected: object = int
    for level in reversed(range(levels)):
        ref = {"$ref": f"#/$defs/d{level + 1}"}
        defs[f"d{level}"] = {"type": "array", "prefixItems": [ref, ref]}
        expected = tuple[expected, expected]
    schema = {"$defs": defs, "$ref": "#/$defs/d0"}

    lookups: list[str] = []
    resolve = triobus._schema._resolve_pointer

    def counting(root: object, ref: str) -> object:
        lookups.append(ref)
        return resolve(root, ref)

    monkeypatch.setattr(triobus._schema, "_resolve_pointer", counting)
    _read_schema_cached.cache_clear()

    assert schema_to_type(schema) == expected
    assert len(lookups) == levels + 2


def test_schema_json_cannot_hold_is_still_read() -> None:
    """A dict with values JSON cannot hold is read without the cache."""
    cyclic: dict[str, object] = {"type": "array"}
    cyclic["items"] = cyclic

    assert schema_to_type({"type": "string", "extra": object()}) is str
    assert schema_to_type({"type": "integer", 7: "non-string key"}) is int
    assert typing.get_origin(schema_to_type(cyclic)) is list


def test_equal_schemas_share_one_cache_entry_whatever_their_key_order() -> None:
    """Key order does not matter to the read cache."""
    schema_to_type({"items": {"type": "boolean"}, "type": "array"})
    hits = _read_schema_cached.cache_info().hits

    result = schema_to_type({"type": "array", "items": {"type": "boolean"}})

    assert result == list[bool]
    assert _read_schema_cached.cache_info().hits == hits + 1


@pytest.mark.parametrize(
    "not_a_dict", [None, "string", ["type", "string"], 3, True, ("type",)]
)
def test_non_dict_schema_raises_type_error(not_a_dict: object) -> None:
    """Only a dict is a JSON Schema here; anything else is a caller's mistake."""
    with pytest.raises(TypeError, match="must be a dict"):
        schema_to_type(not_a_dict)


# Property tests.

_LITERAL_VALUES = st.one_of(
    st.text(max_size=3),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
)
_LEAVES = st.one_of(
    st.sampled_from(
        [
            *(str, int, float, bool, type(None), Any, object),
            *(list, set, frozenset, tuple, dict),
        ]
    ),
    st.lists(_LITERAL_VALUES, min_size=1, max_size=3).map(
        lambda values: make_literal(tuple(values))
    ),
)


def _alias(origin: type) -> Callable[[object], object]:
    return lambda arg: types.GenericAlias(origin, (arg,))


def result_types(
    depth: int = 3, *, annotated: bool = True
) -> st.SearchStrategy[object]:
    """Generate type expressions from the supported grammar, up to ``depth``.

    Args:
        depth: How deeply containers and unions may nest.
        annotated: Whether to wrap types in ``Annotated`` too.
    """
    if depth == 0:
        return _LEAVES
    inner = result_types(depth - 1, annotated=annotated)
    wrapped = inner.map(lambda arg: Annotated[arg, "metadata"])
    return st.one_of(
        _LEAVES,
        inner.map(_alias(list)),
        inner.map(_alias(set)),
        inner.map(_alias(frozenset)),
        inner.map(lambda arg: tuple[arg, ...]),
        st.lists(inner, max_size=3).map(
            lambda args: types.GenericAlias(tuple, tuple(args))
        ),
        st.tuples(st.sampled_from([str, int]), inner).map(
            lambda kv: types.GenericAlias(dict, kv)
        ),
        inner.map(lambda arg: make_union((arg, None))),
        st.lists(inner, min_size=2, max_size=3).map(
            lambda args: make_union(tuple(args))
        ),
        wrapped if annotated else st.nothing(),
    )


def normalised(tp: object) -> object:
    """Apply the normalisations the module docstring documents."""
    bare: list[tuple[object, object]] = [
        (object, Any),
        (list, list[Any]),
        (tuple, list[Any]),
        (set, set[Any]),
        (frozenset, set[Any]),
        (dict, dict[str, Any]),
    ]
    for original, replacement in bare:
        if tp is original:
            return replacement

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        return normalised(args[0])
    if origin is Union:
        return make_union(tuple(normalised(arg) for arg in args))
    if origin is list or (origin is tuple and args[1:] == (Ellipsis,)):
        return types.GenericAlias(list, (normalised(args[0]),))
    if origin in (set, frozenset):
        return types.GenericAlias(set, (normalised(args[0]),))
    if origin is tuple:
        return types.GenericAlias(tuple, tuple(normalised(arg) for arg in args))
    if origin is dict:
        return types.GenericAlias(dict, (str, normalised(args[1])))
    return tp


@settings(max_examples=300)
@given(result_types())
def test_generated_types_survive_the_round_trip(result_type: object) -> None:
    """Writing a type and reading it back gives it again, up to normalisation."""
    schema = type_to_schema(result_type)

    assert schema_to_type(schema) == normalised(result_type)


@settings(max_examples=300)
@given(result_types())
def test_generated_types_round_trip_through_json_text(result_type: object) -> None:
    """The round trip holds after the schema crosses the wire as JSON text."""
    text = json.dumps(type_to_schema(result_type))

    assert schema_to_type(json.loads(text)) == normalised(result_type)


@settings(max_examples=100)
@given(result_types())
def test_generated_types_get_the_schema_abxbus_writes(result_type: object) -> None:
    """For any type from the grammar, abxbus writes the schema we write.

    This calls the function abxbus's ``event_result_type`` serialiser calls,
    not ``BaseEvent[T]``: pydantic caches parametrised classes by equality, so
    ``BaseEvent[Literal[1, 2]]`` would return a class made for an earlier
    ``Literal[2, 1]`` and its enum order.
    """
    ours = type_to_schema(result_type)
    theirs = pydantic_model_to_json_schema(result_type)

    assert json.dumps(ours) == json.dumps(theirs)


_JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)
)
_KEYWORDS = st.sampled_from(
    [
        "type",
        "items",
        "prefixItems",
        "properties",
        "additionalProperties",
        "anyOf",
        "oneOf",
        "allOf",
        "enum",
        "const",
        "$ref",
        "$defs",
        "uniqueItems",
        "maxItems",
    ]
)
_TYPE_NAMES = st.sampled_from(
    ["string", "integer", "number", "boolean", "null", "array", "object", "x"]
)
_JSON_VALUES = st.recursive(
    st.one_of(_JSON_SCALARS, _TYPE_NAMES, st.just("#"), st.just("#/$defs/a")),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(_KEYWORDS, st.just("a")), children, max_size=4),
    ),
    max_leaves=12,
)


@given(st.dictionaries(_KEYWORDS, _JSON_VALUES, max_size=5))
def test_any_dict_reads_as_a_type_without_raising(schema: dict[str, object]) -> None:
    """Reading never fails on a dict, however odd its contents."""
    result = schema_to_type(schema)

    assert (
        result is Any
        or typing.get_origin(result) is not None
        or isinstance(result, type)
    )
