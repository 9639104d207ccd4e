"""The chemiscope viewer itself (the JavaScript the chemiscope package ships) opens our map in Chromium."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser]

_LOAD = """async (dataset) => {
    document.getElementById('root').innerHTML = `<div class="chemiscope-sphinx">
      <div class="visualizer-container"><div class="visualizer-column-right"><div id="cs-meta"></div>
      <div id="cs-map" style="height:500px"></div></div><div class="visualizer-column">
      <div id="cs-structure" class="visualizer-item" style="height:400px"></div>
      <div id="cs-info" class="visualizer-info"></div></div></div></div>`;
    const warnings = new Chemiscope.Warnings();
    const messages = [];
    warnings.addHandler((message) => messages.push(String(message)));
    try {
        await Chemiscope.DefaultVisualizer.load(
            {map: 'cs-map', info: 'cs-info', meta: 'cs-meta', structure: 'cs-structure'}, dataset, warnings);
        return {ok: true, messages};
    } catch (error) {
        return {ok: false, error: String(error), messages};
    }
}"""


def test_chemiscope_viewer_loads_the_map(chromium, tmp_path):
    import chemiscope

    from atomsieve.data import load
    from atomsieve.data.chemiscope_map import write_chemiscope
    from atomsieve.datasets import default_path
    from atomsieve.descriptors import preset
    from atomsieve.selectors import LEBank

    ds = load(default_path("test"))
    feats = preset(None, ds.elements).compute(ds, scaler="minmax", device="cpu")
    sel = LEBank({"Ge": 0.5}, seed=0, device="cpu").fit(feats)
    path = write_chemiscope(tmp_path / "map.json.gz", ds, feats, sel.selected_, bank=sel.bank_,
                            name="ge test map")
    dataset = json.loads(gzip.decompress(path.read_bytes()))

    static = Path(chemiscope.__file__).parent / "sphinx" / "static"
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.set_content("<html><body><div id='root'></div></body></html>")
        page.add_style_tag(path=str(static / "chemiscope-sphinx.css"))
        page.add_script_tag(path=str(static / "chemiscope.min.js"))
        result = page.evaluate(_LOAD, dataset)
        assert result["ok"], result
        assert result["messages"] == [] and errors == []
        assert page.get_by_text("ge test map").count() >= 1  # the dataset's title
        page.get_by_text("atom", exact=True).click()  # per-atom map: environments and atom properties
        page.wait_for_timeout(500)
        assert errors == []
        page.screenshot(path=str(tmp_path / "chemiscope.png"))
    finally:
        page.close()
    assert [r for r in requests if not r.startswith(("data:", "about:"))] == []  # nothing left the machine
