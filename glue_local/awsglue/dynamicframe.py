"""DynamicFrame over a Spark DataFrame, with Glue's method names and semantics where they matter.

A Glue DynamicFrame is self-describing: a field whose values have different types becomes a
`choice`. Here a frame is a DataFrame plus `choices` ({column: catalog type}): columns the reader
left as text because the catalog declares another type (see context.py). `resolveChoice` settles
them; `toDF()` of an unresolved choice column gives the text (nothing is nulled silently).

Known gaps vs AWS:
- No per-record schemas: a choice is per column, between the catalog type and string only.
- `schema()` returns the Spark StructType, not awsglue.gluetypes; `make_struct` resolves to a
  struct of `<type>` and `string` members like Glue, `make_cols` to `<col>_<type>` / `<col>_string`.
- Nested paths work where Spark column paths do (`a.b`); DropNullFields looks at top-level columns.
- `filter`/`map` run the Python function per row (as Glue does), so they are slow on big frames.
- Error records: only the reader's (unparseable lines, corrupt objects); transforms never add any.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


class DynamicFrame:
    def __init__(
        self,
        df: DataFrame,
        glue_ctx,
        name: str = "",
        errors: DataFrame | None = None,
        choices: dict[str, str] | None = None,
    ):
        self._df = df
        self.glue_ctx = glue_ctx
        self.name = name
        self._errors = errors
        self.choices = dict(choices or {})

    # -- conversions -------------------------------------------------------------------------
    def toDF(self, options=None) -> DataFrame:
        return self._df

    @classmethod
    def fromDF(cls, dataframe: DataFrame, glue_ctx, name: str) -> DynamicFrame:
        return cls(dataframe, glue_ctx, name)

    def _derive(self, df: DataFrame, choices: dict[str, str] | None = None) -> DynamicFrame:
        keep = {
            c: t
            for c, t in (self.choices if choices is None else choices).items()
            if c in df.columns
        }
        return DynamicFrame(df, self.glue_ctx, self.name, self._errors, keep)

    # -- inspection --------------------------------------------------------------------------
    def count(self) -> int:
        return self._df.count()

    def schema(self):
        return self._df.schema

    def printSchema(self) -> None:
        self._df.printSchema()

    def show(self, num_rows: int = 20) -> None:
        self._df.show(num_rows, truncate=False)

    def getNumPartitions(self) -> int:
        return self._df.rdd.getNumPartitions()

    def errorsCount(self) -> int:
        return 0 if self._errors is None else self._errors.count()

    def stageErrorsCount(self) -> int:
        return self.errorsCount()

    def errorsAsDynamicFrame(self) -> DynamicFrame:
        if self._errors is None:
            spark = self._df.sparkSession
            empty = spark.createDataFrame([], "source string, error string, raw string")
            return DynamicFrame(empty, self.glue_ctx, self.name + "_errors")
        return DynamicFrame(self._errors, self.glue_ctx, self.name + "_errors")

    def assertErrorThreshold(self) -> None:
        """Glue raises when stageThreshold/totalThreshold are exceeded; thresholds are not tracked."""

    # -- transforms --------------------------------------------------------------------------
    def apply_mapping(
        self,
        mappings,
        case_sensitive: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        """Keep only the mapped fields, renamed and cast (a value that does not cast is null)."""
        cols = []
        for mapping in mappings:
            if len(mapping) != 4:
                raise ValueError(
                    f"mapping {mapping!r} must be (source, source_type, target, target_type)"
                )
            source, _source_type, target, target_type = mapping
            if source.split(".")[0] not in self._df.columns:
                continue  # Glue skips a mapped field that no record has
            cols.append(F.col(_quote(source)).cast(target_type).alias(target))
        return self._derive(self._df.select(*cols), choices={})

    def resolveChoice(
        self,
        specs=None,
        choice: str = "",
        database=None,
        table_name=None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        catalog_id=None,
    ):
        if specs and choice:
            raise ValueError("resolveChoice: give specs or choice, not both")
        if not specs and not choice:
            raise ValueError("resolveChoice: give specs=[(path, action)] or choice='action'")
        todo = list(specs) if specs else [(c, choice) for c in self.choices]
        df, choices = self._df, dict(self.choices)
        for path, action in todo:
            df = _resolve(df, path, action, choices.get(path))
            choices.pop(path, None)
        return self._derive(df, choices)

    def drop_fields(
        self,
        paths,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        return self._derive(self._df.drop(*[p for p in paths if p in self._df.columns]))

    def select_fields(
        self,
        paths,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        return self._derive(
            self._df.select(
                *[F.col(_quote(p)) for p in paths if p.split(".")[0] in self._df.columns]
            )
        )

    def rename_field(
        self,
        oldName: str,
        newName: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        choices = {(newName if c == oldName else c): t for c, t in self.choices.items()}
        return self._derive(self._df.withColumnRenamed(oldName, newName), choices)

    def filter(
        self,
        f,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        rdd = self._df.rdd.filter(lambda row: bool(f(row.asDict(recursive=True))))
        return self._derive(self._df.sparkSession.createDataFrame(rdd, self._df.schema))

    def map(
        self,
        f,
        preservesPartitioning: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        rdd = self._df.rdd.map(lambda row: f(row.asDict(recursive=True)))
        return DynamicFrame(
            self._df.sparkSession.createDataFrame(rdd), self.glue_ctx, self.name, self._errors
        )

    def drop_null_fields(
        self,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        """Drop the columns whose value is null on every record (rows are never dropped)."""
        from pyspark.sql.types import NullType

        columns = self._df.columns
        if not columns:
            return self
        counts = self._df.agg(
            *[F.count(F.col(_quote(c))).alias(f"n{i}") for i, c in enumerate(columns)]
        ).first()
        null_typed = {f.name for f in self._df.schema.fields if isinstance(f.dataType, NullType)}
        assert counts is not None  # an aggregate has exactly one row
        empty = [c for i, c in enumerate(columns) if counts[i] == 0 or c in null_typed]
        return self.drop_fields(empty)

    def join(
        self,
        paths1,
        paths2,
        frame2: DynamicFrame,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        left, right = self._df, frame2.toDF()
        cond = [left[a] == right[b] for a, b in zip(paths1, paths2)]
        return DynamicFrame(left.join(right, cond, "inner"), self.glue_ctx, self.name, self._errors)

    def repartition(
        self,
        num_partitions: int,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        return self._derive(self._df.repartition(num_partitions))

    def coalesce(
        self,
        num_partitions: int,
        shuffle: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ):
        return self._derive(self._df.coalesce(num_partitions))


def _quote(path: str) -> str:
    # Spark reads `a.b` as a nested field, which is what Glue paths mean too.
    return path


def _resolve(df: DataFrame, path: str, action: str, catalog_type: str | None) -> DataFrame:
    kind, _, target = action.partition(":")
    kind = kind.lower()
    if path not in df.columns:
        raise ValueError(f"resolveChoice: no field {path!r} (fields: {df.columns})")
    col = F.col(path)
    if kind in ("cast", "project"):
        if not target:
            raise ValueError(f"resolveChoice action {action!r} needs a type, e.g. 'cast:long'")
        return df.withColumn(path, col.cast(target))
    if kind == "match_catalog":
        return df.withColumn(path, col.cast(catalog_type)) if catalog_type else df
    if kind in ("make_cols", "make_struct"):
        if catalog_type is None:
            return df  # not a choice: nothing to split
        typed = col.cast(catalog_type)
        members = {
            f"{path}_{catalog_type}": typed,
            f"{path}_string": F.when(typed.isNull(), col.cast("string")),
        }
        if kind == "make_cols":
            for name, value in members.items():
                df = df.withColumn(name, value)
            return df.drop(path)
        return df.withColumn(
            path, F.struct(typed.alias(catalog_type), members[f"{path}_string"].alias("string"))
        )
    raise ValueError(
        f"resolveChoice action {action!r}: expected cast:<type>, project:<type>, make_cols, "
        "make_struct or match_catalog"
    )
