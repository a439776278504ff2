"""The sandbox org's schema: standard objects from YAML, custom fields from SFDX metadata.

Custom objects and fields are parsed from ``deploy/salesforce/force-app/main/default`` (the
metadata an admin deploys), so the sandbox and the real org cannot drift apart.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sfsync.scaffold import default_salesforce_metadata_dir
from sfsync_sandbox.ids import KEY_PREFIXES

STANDARD_OBJECTS_FILE = Path(__file__).with_name("standard_objects.yaml")
METADATA_ENV = "SFSYNC_SALESFORCE_METADATA"
_NS = "{http://soap.sforce.com/2006/04/metadata}"

TEXT_TYPES = {
    "string",
    "textarea",
    "email",
    "url",
    "phone",
    "combobox",
    "picklist",
    "multipicklist",
}
NUMBER_TYPES = {"double", "currency", "percent", "int"}
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
# Metadata API field types -> describe types
_XML_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Lookup": "reference",
    "MasterDetail": "reference",
}
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
                 "LastModifiedById", "SystemModstamp")  # fmt: skip


@dataclass
class FieldDef:
    """One field of an sObject, with what describe reports and what validation needs."""

    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()
    # The picklist values' labels, in the order of ``values`` (empty: each label is its value).
    value_labels: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    polymorphic: bool = False
    custom: bool = False
    name_field: bool = False
    auto_number: str | None = None  # display format, e.g. "HSH-{0000000}"
    default_to_user: bool = False
    derived: bool = False
    inline_help_text: str | None = None
    # What describe reports and SOQL enforces (None: from the type, as in Salesforce: a long
    # text area (textarea longer than 255) can be neither filtered, sorted nor grouped; a
    # multi-select picklist is filterable (INCLUDES/EXCLUDES) but not sortable or groupable).
    filterable: bool | None = None
    sortable: bool | None = None
    groupable: bool | None = None

    def __post_init__(self) -> None:
        long_text = self.type == "textarea" and self.length > 255
        if self.filterable is None:
            self.filterable = not long_text
        if self.sortable is None:
            self.sortable = not long_text and self.type != "multipicklist"
        if self.groupable is None:
            self.groupable = not long_text and self.type not in (
                "multipicklist", "double", "currency", "percent", "datetime"
            )  # fmt: skip

    @property
    def required_on_create(self) -> bool:
        return (
            not self.nillable
            and self.createable
            and self.type != "boolean"
            and self.default is None
            and not self.default_to_user
        )

    def describe(self) -> dict[str, Any]:
        """The field as the describe resource reports it."""
        is_text = self.type in TEXT_TYPES
        labels = self.value_labels or self.values
        picklist = [
            {
                "active": True,
                "defaultValue": value == self.default,
                "label": label,
                "validFor": None,
                "value": value,
            }
            for value, label in zip(self.values, labels, strict=True)
        ]
        return {
            "aggregatable": self.type not in ("textarea", "multipicklist"),
            "autoNumber": self.auto_number is not None,
            "byteLength": self.length * 3
            if is_text
            else (18 if self.type in ("id", "reference") else 0),
            "calculated": False,
            "caseSensitive": False,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default if self.type != "boolean" else bool(self.default),
            "defaultedOnCreate": self.default is not None
            or self.default_to_user
            or self.type == "boolean"
            or self.name in SYSTEM_FIELDS,
            "digits": self.precision if self.type == "int" else 0,
            "externalId": self.external_id,
            "extraTypeInfo": "plaintextarea" if self.type == "textarea" else None,
            "filterable": self.filterable,
            "groupable": self.groupable,
            "idLookup": self.name == "Id" or self.external_id or self.unique,
            "inlineHelpText": self.inline_help_text,
            "label": self.label,
            "length": self.length if is_text else (18 if self.type in ("id", "reference") else 0),
            "name": self.name,
            "nameField": self.name_field,
            "nillable": self.nillable,
            "permissionable": self.custom,
            "picklistValues": picklist,
            "polymorphicForeignKey": self.polymorphic,
            "precision": self.precision if self.type in ("double", "currency", "percent") else 0,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "scale": self.scale if self.type in ("double", "currency", "percent") else 0,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.sortable,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }


@dataclass
class ObjectDef:
    """One sObject type: its fields, indexed case-insensitively like SOQL and the REST API."""

    name: str
    label: str
    key_prefix: str
    custom: bool = False
    fields: dict[str, FieldDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_lower: dict[str, FieldDef] = {}
        self._by_relationship: dict[str, FieldDef] = {}

    def add(self, fdef: FieldDef) -> None:
        self.fields[fdef.name] = fdef
        self._by_lower[fdef.name.lower()] = fdef
        if fdef.relationship_name:
            self._by_relationship[fdef.relationship_name.lower()] = fdef

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name`` (any case), or None."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (any case), or None."""
        return self._by_relationship.get(name.lower())

    def external_id_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.external_id or f.unique]

    def describe(self, api_version: str) -> dict[str, Any]:
        """The object as ``GET sobjects/<name>/describe`` reports it."""
        info = self.summary(api_version)
        info["fields"] = [f.describe() for f in self.fields.values()]
        info["childRelationships"] = []
        info["recordTypeInfos"] = []
        return info

    def summary(self, api_version: str) -> dict[str, Any]:
        """The object as the global describe lists it."""
        base = f"/services/data/v{api_version}/sobjects/{self.name}"
        return {
            "activateable": False,
            "createable": True,
            "custom": self.custom,
            "customSetting": False,
            "deletable": True,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label,
            "layoutable": True,
            "mergeable": False,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": True,
            "updateable": self.name != "User",
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }


class Schema:
    """Every sObject type of the sandbox org."""

    def __init__(self, objects: list[ObjectDef]) -> None:
        self.objects = {o.name: o for o in objects}
        self._by_lower = {o.name.lower(): o for o in objects}
        self._by_prefix = {o.key_prefix: o for o in objects}

    def get(self, name: str) -> ObjectDef | None:
        """The sObject called ``name`` (any case), or None."""
        return self._by_lower.get(name.lower())

    def for_id(self, record_id: str) -> ObjectDef | None:
        """The sObject an id belongs to, from its 3-character key prefix."""
        return self._by_prefix.get(record_id[:3])


def default_metadata_dir() -> Path:
    """The metadata sfsync ships (``deploy/salesforce/force-app/main/default`` of its default
    project, see :mod:`sfsync.scaffold`), or $SFSYNC_SALESFORCE_METADATA."""
    if os.environ.get(METADATA_ENV):
        return Path(os.environ[METADATA_ENV])
    return default_salesforce_metadata_dir()


def _system_fields(obj: ObjectDef) -> None:
    ref_user = {"type": "reference", "reference_to": ("User",)}
    readonly = {"createable": False, "updateable": False, "nillable": False, "derived": True}
    obj.add(FieldDef("Id", f"{obj.label} ID", "id", **readonly))
    obj.add(FieldDef("IsDeleted", "Deleted", "boolean", **readonly))
    obj.add(FieldDef("CreatedDate", "Created Date", "datetime", **readonly))
    obj.add(
        FieldDef(
            "CreatedById", "Created By ID", relationship_name="CreatedBy", **ref_user, **readonly
        )
    )
    obj.add(FieldDef("LastModifiedDate", "Last Modified Date", "datetime", **readonly))
    obj.add(
        FieldDef(
            "LastModifiedById",
            "Last Modified By ID",
            relationship_name="LastModifiedBy",
            **ref_user,
            **readonly,
        )
    )
    obj.add(FieldDef("SystemModstamp", "System Modstamp", "datetime", **readonly))


def _standard_field(name: str, spec: dict[str, Any]) -> FieldDef:
    derived = bool(spec.get("derived", False))
    return FieldDef(
        name=name,
        label=spec.get("label", name),
        type=spec["type"],
        length=int(spec.get("length", 0)),
        precision=int(spec.get("precision", 0)),
        scale=int(spec.get("scale", 0)),
        nillable=bool(spec.get("nillable", True)) or derived,
        createable=not derived and spec.get("createable", True),
        updateable=not derived and spec.get("updateable", True),
        external_id=bool(spec.get("externalId", False)),
        unique=bool(spec.get("unique", False)),
        values=tuple(spec.get("values", ())),
        restricted=bool(spec.get("restricted", False)),
        default=spec.get("default"),
        reference_to=tuple(spec.get("referenceTo", ())),
        relationship_name=spec.get("relationshipName"),
        polymorphic=bool(spec.get("polymorphic", False)),
        name_field=bool(spec.get("nameField", False)),
        default_to_user=bool(spec.get("defaultToUser", False)),
        derived=derived,
        filterable=spec.get("filterable"),
        sortable=spec.get("sortable"),
        groupable=spec.get("groupable"),
    )


def _text(elem: ET.Element, tag: str, default: str | None = None) -> str | None:
    child = elem.find(_NS + tag)
    return child.text.strip() if child is not None and child.text else default


def parse_field_xml(path: Path) -> FieldDef:
    """One ``*.field-meta.xml`` file as a :class:`FieldDef`."""
    root = ET.parse(path).getroot()
    name = _text(root, "fullName") or path.name.split(".")[0]
    xml_type = _text(root, "type") or ""
    if xml_type not in _XML_TYPES:
        raise ValueError(f"{path}: unsupported field type {xml_type!r}")
    ftype = _XML_TYPES[xml_type]
    values: list[str] = []
    value_labels: list[str] = []
    restricted = False
    default: Any = None
    value_set = root.find(_NS + "valueSet")
    if value_set is not None:
        restricted = _text(value_set, "restricted") == "true"
        for value in value_set.iter(_NS + "value"):
            values.append(_text(value, "fullName") or "")
            value_labels.append(_text(value, "label") or values[-1])
            if _text(value, "default") == "true":
                default = values[-1]
    if ftype == "boolean":
        default = _text(root, "defaultValue", "false") == "true"
    length = int(_text(root, "length", "0") or 0)
    if xml_type == "TextArea":
        length = 255
    if ftype == "multipicklist":
        length = 4099
    reference = _text(root, "referenceTo")
    rel = _text(root, "relationshipName")
    return FieldDef(
        name=name,
        label=_text(root, "label", name) or name,
        type=ftype,
        length=length,
        precision=int(_text(root, "precision", "0") or 0),
        scale=int(_text(root, "scale", "0") or 0),
        nillable=ftype == "boolean" or _text(root, "required") != "true",
        external_id=_text(root, "externalId") == "true",
        unique=_text(root, "unique") == "true",
        values=tuple(values),
        value_labels=tuple(value_labels),
        restricted=restricted,
        default=default,
        reference_to=(reference,) if reference else (),
        relationship_name=f"{name[:-3]}__r" if rel and name.endswith("__c") else None,
        custom=True,
        inline_help_text=_text(root, "inlineHelpText"),
    )


def _custom_object(path: Path) -> ObjectDef:
    root = ET.parse(path).getroot()
    name = path.name.split(".")[0]
    label = _text(root, "label", name) or name
    obj = ObjectDef(name, label, KEY_PREFIXES.get(name, "a0Z"), custom=True)
    _system_fields(obj)
    name_field = root.find(_NS + "nameField")
    auto = name_field is not None and _text(name_field, "type") == "AutoNumber"
    obj.add(
        FieldDef(
            "Name",
            _text(name_field, "label", "Name") if name_field is not None else "Name",
            "string",
            length=80,
            nillable=auto,
            createable=not auto,
            updateable=not auto,
            name_field=True,
            auto_number=_text(name_field, "displayFormat") if auto else None,
        )
    )
    obj.add(FieldDef("OwnerId", "Owner ID", "reference", reference_to=("User",),
                     relationship_name="Owner", nillable=False, default_to_user=True))  # fmt: skip
    return obj


@cache
def load_schema(metadata_dir: Path | None = None) -> Schema:
    """Build the schema from the standard-object YAML and the SFDX metadata directory."""
    metadata_dir = metadata_dir or default_metadata_dir()
    objects_dir = metadata_dir / "objects"
    if not objects_dir.is_dir():
        raise FileNotFoundError(
            f"Salesforce metadata not found at {objects_dir}; set {METADATA_ENV} to the "
            "force-app/main/default directory of deploy/salesforce"
        )
    spec = yaml.safe_load(STANDARD_OBJECTS_FILE.read_text(encoding="utf-8"))
    objects: dict[str, ObjectDef] = {}
    for name, ospec in spec.items():
        obj = ObjectDef(name, ospec.get("label", name), ospec["keyPrefix"])
        _system_fields(obj)
        for fname, fspec in ospec["fields"].items():
            obj.add(_standard_field(fname, fspec))
        objects[name] = obj
    for object_file in sorted(objects_dir.glob("*/*.object-meta.xml")):
        obj = _custom_object(object_file)
        objects[obj.name] = obj
    for field_file in sorted(objects_dir.glob("*/fields/*.field-meta.xml")):
        owner = field_file.parent.parent.name
        fdef = parse_field_xml(field_file)
        targets = ["Task", "Event"] if owner == "Activity" else [owner]
        for target in targets:
            if target not in objects:
                raise ValueError(f"{field_file}: object {target} is not defined")
            objects[target].add(fdef)
    return Schema(list(objects.values()))
