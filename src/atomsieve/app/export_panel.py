"""Downloads: the selected subset (extxyz or ASE .db), the bank file, the curves as CSV."""

from __future__ import annotations

import io

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from atomsieve.app.export import (
    LABEL_PREFIXES,
    SUBSET_FORMATS,
    bank_bytes,
    chemiscope_bytes,
    export_name,
    rows_csv,
    subset_bytes,
)
from atomsieve.app.notify import describe, notify
from atomsieve.app.state import DatasetState
from atomsieve.errors import DataError


class ExportPanel(Viewer):
    """Download buttons that write with the library's own writers when clicked.

    ``selection`` supplies the structure indices to export (all structures when absent).
    """

    data = param.ClassSelector(class_=DatasetState)
    selection = param.Parameter(default=None, doc="object with ``selected_indices()``; None exports all")
    compare = param.Parameter(default=None, doc="CompareState whose rows are exported as CSV")
    model_error = param.Parameter(default=None,
                                  doc="ModelErrorState: its curves as CSV, its RMSE in the subset's info")

    def __init__(self, **params):
        super().__init__(**params)
        self.subset_format = pn.widgets.RadioButtonGroup(options=list(SUBSET_FORMATS), value="extxyz",
                                                         button_type="light")
        self.subset_download = pn.widgets.FileDownload(
            callback=self._subset_file, filename=self._subset_name(), label="Download selected structures",
            button_type="primary", sizing_mode="stretch_width", css_classes=["export-subset"],
        )
        self.bank_download = pn.widgets.FileDownload(
            callback=self._bank_file, filename="atomsieve_bank.npz", label="Download the LE bank (.npz)",
            button_type="light", sizing_mode="stretch_width", css_classes=["export-bank"],
        )
        self.curves_download = pn.widgets.FileDownload(
            callback=self._curves_file, filename="atomsieve_learning_curves.csv",
            label="Download learning curves (CSV)", button_type="light", sizing_mode="stretch_width",
            css_classes=["export-curves"],
        )
        self.model_error_download = pn.widgets.FileDownload(
            callback=self._model_error_file, filename="atomsieve_model_error_curves.csv",
            label="Download model-error curves (CSV)", button_type="light", sizing_mode="stretch_width",
            css_classes=["export-model-error"],
        )
        self.chemiscope_download = pn.widgets.FileDownload(
            callback=self._chemiscope_file, filename="atomsieve_selection_map.json.gz",
            label="Download chemiscope map (.json.gz)", button_type="light", sizing_mode="stretch_width",
            css_classes=["export-chemiscope"],
        )
        self.subset_format.param.watch(lambda *_e: self._rename(), "value")
        self.data.param.watch(lambda *_e: self._rename(), ["dataset"])

    def _indices(self) -> np.ndarray:
        if self.selection is None:
            return np.arange(len(self.data.dataset))
        return np.asarray(self.selection.selected_indices(), dtype=np.int64)

    def _suffix(self) -> str:
        return SUBSET_FORMATS[self.subset_format.value]

    def _subset_name(self) -> str:
        return export_name("atomsieve_selection", self._suffix())

    def _rename(self) -> None:
        self.subset_download.filename = self._subset_name()

    def _subset_file(self):
        try:
            info = self.model_error.metadata() if self.model_error is not None else None
            data = subset_bytes(self.data.dataset, self._indices(), self._suffix(), info=info,
                                label_prefix=LABEL_PREFIXES.get(self.subset_format.value))
        except Exception as exc:  # noqa: BLE001 - shown to the user; the download is skipped
            notify(f"Export: {describe(exc)}")
            return None
        return io.BytesIO(data)

    def _bank(self):
        """The selection's bank, rebuilt from this session's features: the cached outcome may have been
        fitted (same key) on an equal features object of another session that is gone."""
        outcome = getattr(self.selection, "outcome", None)
        features = getattr(self.selection, "features", None)
        if outcome is None:
            return None
        if features is not None and self.selection.outcome_is_current():
            return outcome.bank_for(features)
        return outcome.bank

    def _chemiscope_file(self):
        try:
            features = getattr(self.selection, "features", None)
            bank = self._bank()
            return io.BytesIO(chemiscope_bytes(self.data.dataset, features, self._indices(), bank=bank))
        except Exception as exc:  # noqa: BLE001
            notify(f"Export chemiscope map: {describe(exc)}")
            return None

    def _bank_file(self):
        try:
            bank = self._bank()
            if bank is None:
                raise DataError("no LE bank yet: wait for the selection to finish")
            return io.BytesIO(bank_bytes(bank))
        except Exception as exc:  # noqa: BLE001
            notify(f"Export bank: {describe(exc)}")
            return None

    def _model_error_file(self):
        try:
            if self.model_error is None:
                raise DataError("no model-error panel in this view")
            from atomsieve.app.model_error_state import ROW_COLUMNS

            return io.BytesIO(rows_csv(self.model_error.curve_rows(), ROW_COLUMNS))
        except Exception as exc:  # noqa: BLE001
            notify(f"Export model-error curves: {describe(exc)}")
            return None

    def _curves_file(self):
        try:
            rows = [] if self.compare is None else self.compare.rows
            return io.BytesIO(rows_csv(rows))
        except Exception as exc:  # noqa: BLE001
            notify(f"Export curves: {describe(exc)}")
            return None

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("#### Selected structures"),
            self.subset_format,
            self.subset_download,
            self.chemiscope_download,
            pn.pane.Markdown("#### Environment bank and curves"),
            self.bank_download,
            self.curves_download,
            self.model_error_download,
            sizing_mode="stretch_width", max_width=520, name="Export",
        )
