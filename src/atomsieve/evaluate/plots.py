"""Drawing learning curves to a file: matplotlib for .png/.svg/.pdf, Plotly (self-contained) for .html."""

from __future__ import annotations

import os
from pathlib import Path

from atomsieve.data import atomic_path
from atomsieve.errors import ParameterError

_PANELS = (("rmse_f_pred", "force RMSE, prediction set (meV/Å)"),
           ("rmse_e_pred", "energy RMSE, prediction set (meV/atom)"))


def _series(table):
    from atomsieve.evaluate.curves import summarize

    summary = summarize(table)
    full = summary[summary["method"] == "full"]
    curves = summary[summary["method"] != "full"]
    return curves, (full.iloc[0] if len(full) else None)


def _wide(values) -> bool:
    """Whether values span more than a factor of ten (then a log axis reads better)."""
    positive = values[values > 0]
    return len(positive) > 1 and float(positive.max()) > 10 * float(positive.min())


def save_curve_plot(table, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Force and energy RMSE on the prediction set versus structures selected, one line per method,
    the full-data model as a dashed line. The write is atomic.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf", ".html"):
        raise ParameterError(f"{path}: plots are written as .png, .svg, .pdf or .html")
    curves, full = _series(table)
    with atomic_path(path, overwrite) as tmp:
        if suffix == ".html":
            _plotly(curves, full, tmp)
        else:
            _matplotlib(curves, full, tmp)
    return path


def _matplotlib(curves, full, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, (column, label) in zip(axes, _PANELS):
        for method, group in curves.groupby("method", sort=True):
            ax.errorbar(group["size"], group[column], yerr=group[f"{column}_std"], marker="o", capsize=3,
                        label=method)
        if full is not None:
            ax.axhline(full[column], color="k", linestyle="--", label=f"all {int(full['size'])}")
        ax.set_xlabel("structures selected")
        ax.set_ylabel(label)
        if _wide(curves[column]):
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.savefig(out, format=out.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)


def _plotly(curves, full, out: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=[label for _, label in _PANELS])
    for col, (column, _) in enumerate(_PANELS, start=1):
        for method, group in curves.groupby("method", sort=True):
            fig.add_trace(go.Scatter(x=group["size"], y=group[column], name=method, legendgroup=method,
                                     showlegend=col == 1, mode="lines+markers",
                                     error_y={"type": "data", "array": group[f"{column}_std"]}),
                          row=1, col=col)
        if full is not None:
            fig.add_hline(y=float(full[column]), line_dash="dash", row=1, col=col,
                          annotation_text=f"all {int(full['size'])}")
        fig.update_xaxes(title_text="structures selected", row=1, col=col)
        if _wide(curves[column]):
            fig.update_yaxes(type="log", row=1, col=col)
    fig.write_html(str(out), include_plotlyjs=True, full_html=True)
