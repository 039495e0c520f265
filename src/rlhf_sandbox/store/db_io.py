"""Export and import of a whole store (JSONL rows; chunks travel with ``store copy``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from rlhf_sandbox.files import write_atomic
from rlhf_sandbox.store.db_core import DBCore, _columns, _insert, _row
from rlhf_sandbox.store.names import check_chunk_name, check_reward_model_path
from rlhf_sandbox.store.rows import StoreConnectionError, utc_now
from rlhf_sandbox.store.schema import TABLES


class ExportImport(DBCore):
    """Every row out, in one snapshot; rows in, in one transaction."""

    # ---- export / import --------------------------------------------------------------

    def export_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every row (claims and chunks aside) as (table, row dict), in export order, from
        one consistent snapshot of the store."""
        with self._b.snapshot() as c:
            for table, (cls, json_cols) in TABLES.items():
                for r in c.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall():
                    yield table, asdict(_row(cls, json_cols, r))

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write every row as ``{"table": ..., "row": {...}}`` lines (atomically).

        Returns the number of rows written.
        """
        n = 0

        def fill(f: BinaryIO) -> None:
            nonlocal n
            for table, row in self.export_rows():
                line = json.dumps({"table": table, "row": row}, sort_keys=True) + "\n"
                f.write(line.encode("utf-8"))
                n += 1

        write_atomic(Path(path), fill)
        return n

    def import_rows(
        self,
        records: Iterable[tuple[str, dict[str, Any]]],
        chunks: Iterable[tuple[str, bytes]] = (),
    ) -> int:
        """Insert (table, row dict) records, and ``chunks`` (name, bytes) into the chunks
        table, in one transaction; returns the number of records. Rows keep their ids and
        timestamps; a row that already exists is an error and nothing is imported."""

        def body(c: Any, again: bool) -> int:
            if again:
                raise StoreConnectionError(
                    f"{self.where}: the connection was lost while importing; the import may "
                    "or may not have been committed: look before running it again"
                )
            n = 0
            for table, row in records:
                if table == "clips":
                    check_chunk_name(row["chunk"], self.where, row["id"])
                elif table == "reward_models":
                    check_reward_model_path(row["path"], self.where, row["run"], row["version"])
                cls, json_cols = TABLES[table]
                cols = _columns(cls)
                values = [
                    json.dumps(row[k], sort_keys=True) if k in json_cols else row[k] for k in cols
                ]
                c.execute(_insert(table, cols), values)
                n += 1
            for name, data in chunks:
                check_chunk_name(name, self.where)
                c.execute(_insert("chunks", ("name", "data", "created")), (name, data, utc_now()))
            return n

        return self._write(body)

    def import_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Insert the rows of an export, in one transaction; returns the number of rows.

        Rows are inserted as they are (ids and timestamps kept); a row that already
        exists is an error and nothing is imported.
        """
        return self.import_rows(_read_export(path))

    def is_empty(self) -> bool:
        """Whether the store holds no rows of any exported table, and no chunks."""
        working = ("chunks", "claims", "trainer_beats")
        return not any(self._read(f"SELECT 1 FROM {t} LIMIT 1") for t in (*TABLES, *working))


def _read_export(path: str | os.PathLike[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (table, row) records of a JSONL export; a bad line is a ValueError naming it."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                table, row = rec["table"], rec["row"]
                cls, _ = TABLES[table]
                missing = [k for k in _columns(cls) if k not in row]
                if missing:
                    raise KeyError(", ".join(missing))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not an export row ({e})") from e
            yield table, row
