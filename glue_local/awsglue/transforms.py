"""Glue's transform classes (`ApplyMapping.apply(frame=..., mappings=...)` and friends).

Each delegates to the DynamicFrame method of the same meaning, as awsglue's own classes do.
DropNullFields drops the COLUMNS that are null on every record, never rows.

Known gaps vs AWS: Relationalize, Unbox, UnnestFrame, SplitFields/SplitRows, Spigot, Merge and the
FindMatches family are not provided; stageThreshold/totalThreshold are accepted and ignored.
"""

from __future__ import annotations


class GlueTransform:
    @classmethod
    def apply(cls, *args, **kwargs):
        return cls()(*args, **kwargs)

    @classmethod
    def name(cls) -> str:
        return cls.__name__


class ApplyMapping(GlueTransform):
    def __call__(
        self,
        frame,
        mappings,
        case_sensitive=False,
        transformation_ctx="",
        info="",
        stageThreshold=0,
        totalThreshold=0,
    ):
        return frame.apply_mapping(mappings, case_sensitive, transformation_ctx)


class ResolveChoice(GlueTransform):
    def __call__(
        self,
        frame,
        specs=None,
        choice="",
        database=None,
        table_name=None,
        transformation_ctx="",
        info="",
        stageThreshold=0,
        totalThreshold=0,
        catalog_id=None,
    ):
        return frame.resolveChoice(specs, choice, database, table_name, transformation_ctx)


class DropNullFields(GlueTransform):
    def __call__(self, frame, transformation_ctx="", info="", stageThreshold=0, totalThreshold=0):
        return frame.drop_null_fields(transformation_ctx)


class DropFields(GlueTransform):
    def __call__(
        self, frame, paths, transformation_ctx="", info="", stageThreshold=0, totalThreshold=0
    ):
        return frame.drop_fields(paths, transformation_ctx)


class SelectFields(GlueTransform):
    def __call__(
        self, frame, paths, transformation_ctx="", info="", stageThreshold=0, totalThreshold=0
    ):
        return frame.select_fields(paths, transformation_ctx)


class RenameField(GlueTransform):
    def __call__(
        self,
        frame,
        old_name,
        new_name,
        transformation_ctx="",
        info="",
        stageThreshold=0,
        totalThreshold=0,
    ):
        return frame.rename_field(old_name, new_name, transformation_ctx)


class Filter(GlueTransform):
    def __call__(
        self, frame, f, transformation_ctx="", info="", stageThreshold=0, totalThreshold=0
    ):
        return frame.filter(f, transformation_ctx)


class Map(GlueTransform):
    def __call__(
        self,
        frame,
        f,
        preservesPartitioning=False,
        transformation_ctx="",
        info="",
        stageThreshold=0,
        totalThreshold=0,
    ):
        return frame.map(f, preservesPartitioning, transformation_ctx)


class Join(GlueTransform):
    def __call__(self, frame1, frame2, keys1, keys2, transformation_ctx=""):
        return frame1.join(keys1, keys2, frame2, transformation_ctx)


class ErrorsAsDynamicFrame(GlueTransform):
    def __call__(self, frame):
        return frame.errorsAsDynamicFrame()
