"""Cheap live updates of served views: text panes that resend only their text, batched patches.

Two costs made the first slider press of a served page take seconds:

- a Panel ``Markdown`` pane resends *all* its properties when its text changes, stylesheets
  included; on the first change after the page loads the theme's stylesheets differ from the
  ones set at render time, so Bokeh re-walks every model of the document (about a thousand in
  the dashboard: 1–1.5 s on a loaded 2-core machine, per pane) and the browser restyles the pane.
  :class:`LiveMarkdown` leaves the stylesheets set at render time alone.
- every model change became its own websocket message, each serialised against the whole
  document; :func:`batched` collects the changes of one update into one message.
"""

from __future__ import annotations

from contextlib import contextmanager

import panel as pn


class LiveMarkdown(pn.pane.Markdown):
    """A Markdown pane for text that changes often: an update sends the text, not the stylesheets again.

    Examples
    --------
    >>> note = LiveMarkdown("3 structures selected")
    >>> note.object = "4 structures selected"
    >>> note.object
    '4 structures selected'
    """

    def _update(self, ref, model) -> None:
        props = self._get_properties(model.document)
        props.pop("stylesheets", None)  # set at render time; resending them re-walks the whole document
        model.update(**props)


class LightUpdates:
    """Mixin for Panel components whose values change often (cards, counters).

    Panel rebuilds the theme's stylesheet models on *every* property change and then drops them
    unless the stylesheets themselves changed: about 1 ms of server time per change, several per
    slider release. This mixin skips that work when no stylesheet changed.
    """

    def _update_properties(self, *events, doc):
        if any(event.name == "stylesheets" for event in events):
            return super()._update_properties(*events, doc=doc)
        return self._process_param_change({event.name: event.new for event in events})


class LiveNumber(LightUpdates, pn.indicators.Number):
    """A Number indicator for live counts (see :class:`LightUpdates`).

    >>> card = LiveNumber(name="Selected structures", value=3)
    >>> card.value = 4
    >>> card.value
    4
    """


@contextmanager
def batched(doc=None):
    """Collect the model changes made inside into one websocket message (served sessions only).

    Outside a server session (notebooks, scripts, tests) it does nothing. The document's model
    graph is not frozen: Bokeh recomputes the whole graph when a freeze ends, whether or not
    anything changed (about 1 s on a loaded machine), and plain value changes never need it.
    """
    doc = doc if doc is not None else pn.state.curdoc
    if doc is None or doc.session_context is None:
        yield
        return
    with pn.io.hold(doc):
        yield
