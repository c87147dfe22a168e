"""Charts: terminal renderables, Mermaid blocks, the --show/--report CLI and the report files."""

import importlib
import math
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from losscli.report import charts as c
from losscli.report import image
from losscli.stats import histograms as h


def _hist(e, edges=None):
    s = h.ErrorHistogram(edges)
    s.update(np.asarray(e, dtype=float))
    return s.compute()


def _render(renderable, width=100):
    console = Console(record=True, width=width, color_system=None, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("scale", [1e-6, 1.0, 3e4])
@pytest.mark.parametrize("max_bins", [5, 12, 24, 60])
def test_display_bins_are_exact_merges(scale, max_bins):
    rng = np.random.default_rng(0)
    e = np.concatenate([rng.standard_cauchy(5000) * scale, [0.0, 1e-20]])
    r = _hist(e)
    edges, counts = c.display_bins(r, max_bins)
    assert counts.size <= max_bins and counts.size == edges.size - 1
    assert (np.diff(edges) > 0).all()
    want, _ = np.histogram(e, bins=edges)
    np.testing.assert_array_equal(counts, want)  # every bar an exact count of its range
    assert counts.sum() == r.counts.sum()  # nothing lost: the ends trimmed were empty


def test_display_bins_user_edges_and_one_sided():
    e = np.array([0.5, 0.7, 2.5, 9.9])
    r = _hist(e, h.parse_bins("0:10:100"))
    edges, counts = c.display_bins(r, 8)
    want, _ = np.histogram(e, bins=edges)
    np.testing.assert_array_equal(counts, want)
    r2 = _hist(np.abs(np.random.default_rng(1).normal(size=500)) + 0.1)  # positive errors only
    edges, counts = c.display_bins(r2, 10)
    np.testing.assert_array_equal(
        counts, np.histogram(np.abs(np.random.default_rng(1).normal(size=500)) + 0.1, bins=edges)[0]
    )


def test_histogram_table_text():
    r = _hist([-3.0, -1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 5.0, np.inf, np.nan])
    text = _render(c.histogram_table(r, "mse: error histogram", max_bins=30))
    assert "mse: error histogram" in text
    assert "> 1.126e+15" in text and "NaN" in text
    rows = {
        line.split()[0] + line.split()[1]: line
        for line in text.splitlines()
        if line.strip().startswith("[")
    }
    assert any(k == "[1,1.25)" for k in rows)
    assert "███" in rows["[1,1.25)"]  # the tallest bar: 3 of 10
    assert rows["[1,1.25)"].rstrip().endswith("3  30.0%")


def test_groups_table_marks_threshold_and_orders_worst_first():
    groups = [
        c.GroupValue("city", 16.1),
        c.GroupValue("rural", 76.5),
        c.GroupValue("suburb", 15.8),
        c.GroupValue("bad\x1b[31mkey\nx", 20.0),
    ]
    text = _render(c.groups_table(groups, "mse", threshold=30.0, gate="max", top=3))
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].startswith("worst groups by mse (┃ = max 30)")
    assert lines[2].startswith("rural") and lines[3].startswith("bad\\x1b[31mkey\\nx")
    assert "\x1b" not in text
    assert all("┃" in line for line in lines[2:5])
    assert "… 1 more" in text
    mark = lines[2].index("┃") - lines[2].index("█")
    assert mark == round(30.0 / 76.5 * c.BAR_WIDTH)


def test_worst_groups_higher_is_better():
    groups = [c.GroupValue("a", 0.9), c.GroupValue("b", 0.2), c.GroupValue("c", math.nan)]
    shown, hidden = c.worst_groups(groups, higher_is_better=True, top=2)
    assert [g.label for g in shown] == ["c", "b"] and hidden == 1


def test_mermaid_labels_escaped():
    evil = 'x"]\n```\nbar [1]`<b>#1'
    out = c.mermaid_groups([c.GroupValue(evil, 1.0), c.GroupValue("ok", 2.0)], "mse", 1.5, "max")
    body = out.split("\n")[1:-1]
    assert out.startswith("```mermaid\nxychart-beta\n") and out.endswith("\n```")
    assert all("`" not in line for line in body)
    assert len(out.splitlines()) == 8
    x_axis = next(line for line in body if line.strip().startswith("x-axis"))
    assert x_axis.count('"') == 4 and "<" not in x_axis and "\\" not in x_axis
    assert body[-1] == "    line [1.5, 1.5]"
    assert "bar [2.0, 1.0]" in out  # worst first


def test_mermaid_histogram_counts():
    e = np.array([-3.0, -1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 5.0])
    r = _hist(e)
    out = c.mermaid_histogram(r, "errors")
    _, counts = c.display_bins(r)
    bar = next(line for line in out.splitlines() if line.strip().startswith("bar"))
    assert bar.strip() == "bar [" + ", ".join(str(int(x)) for x in counts) + "]"
    assert sum(counts) == 8


def test_mermaid_calibration():
    cal = h.Calibration()
    cal.update(np.array([0.05, 0.15, 0.95]), np.array([0.0, 1.0, 1.0]))
    out = c.mermaid_calibration(cal.compute())
    assert '"0..0.1", "0.1..0.2", "0.9..1"' in out
    assert "bar [0.0, 1.0, 1.0]" in out and "line [0.05, 0.15, 0.95]" in out


def test_calibration_table_renders():
    cal = h.Calibration()
    cal.update(np.array([0.05, 0.15, 0.95]), np.array([0.0, 1.0, 1.0]))
    text = _render(c.calibration_table(cal.compute()), width=120)
    assert "ECE 0.3" in text and "(0.1, 0.2]" in text and "[0, 0.1]" in text


# -- report files ------------------------------------------------------------------------------
def test_bad_suffix():
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.html"):
        image.report_format("out.pdf")


@pytest.mark.parametrize(
    "name",
    ["r.png", "R.SVG", "d/r.html", ".png", "x/.svg", "r.", "r", "r.png/", "a.b.html", "..png"],
)
def test_report_suffix_is_pathlibs(name):
    from pathlib import PurePath

    from losscli.defaults import report_suffix

    assert report_suffix(name) == PurePath(name).suffix.lower()


# -- the command line ---------------------------------------------------------------------------
from tests.conftest import invoke, write_table  # noqa: E402


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """Predictions with edge values (integer and quarter errors), three groups, weights."""
    rng = np.random.default_rng(42)
    n = 3000
    target = np.round(rng.normal(50, 10, n), 2)
    pred = target + rng.normal(0, 3, n)
    pred[::4] = target[::4] + np.round(rng.normal(0, 3, n)[::4] * 4) / 4  # errors on edges
    pred[::9] = target[::9]  # exact predictions: the zero bin
    group = rng.choice(["a", "b", 'c"`\n'], n)
    weight = rng.integers(1, 4, n).astype(float)
    cols = {"pred": pred, "target": target, "g": group, "w": weight}
    path = write_table(tmp_path_factory.mktemp("charts") / "p.parquet", cols)
    return path, cols


def _expected(json_hist: dict, values: np.ndarray) -> None:
    edges = np.array(json_hist["edges"])
    want, _ = np.histogram(values, bins=edges)
    assert json_hist["counts"] == want.tolist()
    assert json_hist["underflow"] == int((values < edges[0]).sum())
    assert json_hist["overflow"] == int((values > edges[-1]).sum())


@pytest.mark.parametrize("chunk", ["7", "1000", "1048576"])
def test_json_histograms_equal_numpy_grouped_and_not(scored, chunk: str) -> None:
    path, cols = scored
    out = invoke(
        ["mse", str(path), "-g", "g", "--show", "hist", "--chunk-size", chunk, "-f", "json"]
    )
    assert out.code == 0, out.err
    hist = out.json["histograms"]
    e = cols["pred"] - cols["target"]
    _expected(hist["error"], e)
    assert hist["error"]["of"] == "prediction - target"
    for entry in hist["groups"]:
        mask = cols["g"] == entry["key"]["g"]
        _expected({**entry, "edges": hist["error"]["edges"]}, e[mask])
    assert "pred_vs_target" not in hist  # the grid only for --report (two values a row)


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 20])
def test_engine_density_equals_histogram2d(scored, chunk: int) -> None:
    from losscli import engine
    from losscli.catalogue import lookup
    from losscli.engine.request import ChartRequest

    path, cols = scored
    options = engine.RunOptions(files=[str(path)], chunk_size=chunk, charts=ChartRequest())
    (result,) = engine.run([engine.LossRequest(lookup("mse"), {})], options)
    assert result.charts is not None and result.charts.density is not None
    edges, counts = result.charts.density
    want, _, _ = np.histogram2d(cols["target"], cols["pred"], bins=[edges, edges])
    np.testing.assert_array_equal(counts, want.astype(np.int64))
    assert 16 < edges.size - 1 <= 64  # the data span more than a quarter of the window


def test_background_counting_raises_where_the_states_are_read(scored, monkeypatch) -> None:
    # chunks are counted on the chart thread; its error surfaces on the next update or read,
    # and a chunk is never counted twice or skipped (the counts equal the synchronous ones)
    from losscli import engine
    from losscli.catalogue import lookup
    from losscli.engine import charts as engine_charts
    from losscli.engine.request import ChartRequest

    path, cols = scored
    seen: list[int] = []
    real = engine_charts.ChartStates._update

    def spy(self, chunk, inputs, weights, group_ids):
        seen.append(threading.get_ident())
        real(self, chunk, inputs, weights, group_ids)

    monkeypatch.setattr(engine_charts.ChartStates, "_update", spy)
    monkeypatch.setattr(engine_charts, "BACKGROUND_ROWS", 100)
    options = engine.RunOptions(files=[str(path)], chunk_size=500, charts=ChartRequest())
    (result,) = engine.run([engine.LossRequest(lookup("mse"), {})], options)
    assert len(seen) == 6 and threading.get_ident() not in seen  # 3000 rows, 500 a chunk
    assert result.charts is not None and result.charts.histogram is not None
    e = cols["pred"] - cols["target"]
    want, _ = np.histogram(e, bins=result.charts.histogram.edges)
    np.testing.assert_array_equal(result.charts.histogram.counts, want)

    def broken(self, *args):
        raise ZeroDivisionError("in the chart thread")

    monkeypatch.setattr(engine_charts.ChartStates, "_update", broken)
    with pytest.raises(ZeroDivisionError, match="in the chart thread"):
        engine.run([engine.LossRequest(lookup("mse"), {})], options)


def test_json_user_bins_and_exact_weights(scored) -> None:
    path, cols = scored
    out = invoke(["mse", str(path), "-w", "w", "--show", "hist", "--bins", "-6:6:24", "-f", "json"])
    hist = out.json["histograms"]["error"]
    e = cols["pred"] - cols["target"]
    _expected(hist, e)
    edges = np.array(hist["edges"])
    idx = np.searchsorted(edges, e, side="right") - 1
    idx[e == edges[-1]] = edges.size - 2
    for b, got in enumerate(hist["weights"]):
        assert got == math.fsum(cols["w"][idx == b].tolist())  # integer weights: exact


def test_default_json_unchanged_without_show(scored) -> None:
    path, _ = scored
    plain = invoke(["mse", str(path), "-g", "g", "-f", "json"]).json
    shown = invoke(["mse", str(path), "-g", "g", "-f", "json", "--show", "groups"]).json
    assert "histograms" not in plain
    assert {k: v for k, v in shown.items() if k != "histograms"} == plain


def test_terminal_charts_under_the_table_only_on_a_terminal(scored) -> None:
    path, _ = scored
    tty = invoke(
        ["mse", str(path), "-g", "g", "--max", "1", "--show", "hist", "--show", "groups"],
        tty=True,
        env={"NO_COLOR": "1"},
    )
    assert tty.code == 1
    assert tty.out.index("rows") < tty.out.index("errors (prediction − target)")
    assert "worst groups by mse (┃ = max 1)" in tty.out and "█" in tty.out
    assert 'c"`\n' not in tty.out and 'c"`\\n' in tty.out  # no raw line break from the data
    piped = invoke(["mse", str(path), "-g", "g", "--show", "hist"])  # a pipe: JSON, no drawing
    assert piped.out.lstrip().startswith("{") and "█" not in piped.out


def test_markdown_and_step_summary_get_mermaid(scored, tmp_path) -> None:
    path, _ = scored
    summary = tmp_path / "summary.md"
    out = invoke(
        [
            "mse",
            str(path),
            "-g",
            "g",
            "--max",
            "1",
            "--show",
            "hist",
            "--show",
            "groups",
            "-f",
            "markdown",
        ],
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert out.code == 1
    assert out.out.count("```mermaid") == 2 and "xychart-beta" in out.out
    text = summary.read_text()
    assert text.index("| check |") < text.index("```mermaid")  # charts after the gate table
    assert text.count("```mermaid") == 2 and "line [1.0, 1.0, 1.0]" in text
    blocks = re.findall(r"```mermaid\n(.*?)\n```", text, flags=re.S)
    assert len(blocks) == 2 and all("`" not in block for block in blocks)
    assert "c''" in blocks[1]  # the key c"`<newline> as a safe label


def test_calibration_for_binary_cross_entropy(tmp_path) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, 2000)
    p = 1 / (1 + np.exp(-logits))
    y = (rng.uniform(size=p.size) < p).astype(float)
    path = write_table(tmp_path / "b.parquet", {"pred": logits, "target": y})
    out = invoke(["bce", str(path), "--show", "calibration", "-f", "json"])
    cal = out.json["histograms"]["calibration"]
    sk = importlib.import_module("sklearn.calibration")
    prob_true, prob_pred = sk.calibration_curve(y, p, n_bins=10)
    used = [c > 0 for c in cal["counts"]]
    np.testing.assert_allclose(
        [v for v, u in zip(cal["observed"], used, strict=True) if u], prob_true, rtol=1e-12
    )
    np.testing.assert_allclose(
        [v for v, u in zip(cal["mean_predicted"], used, strict=True) if u], prob_pred, rtol=1e-12
    )
    ece = invoke(["ece", str(path), "-f", "value"])  # ece takes probabilities: logits fail
    assert ece.code == 3
    path2 = write_table(tmp_path / "c.parquet", {"pred": p, "target": y})
    ece = float(invoke(["ece", str(path2), "-f", "value"]).out)
    assert ece == pytest.approx(cal["ece"], rel=1e-12)
    keras = invoke(["binary_crossentropy", str(path2), "--show", "calibration", "-f", "json"])
    kcal = keras.json["histograms"]["calibration"]  # Keras's name, probabilities given
    assert kcal["counts"] == cal["counts"]
    np.testing.assert_allclose(kcal["mean_predicted"], cal["mean_predicted"], rtol=1e-12)
    table = invoke(["bce", str(path), "--show", "calibration", "-f", "table"], tty=True).out
    assert "calibration (10 bins, ECE" in table


@pytest.mark.parametrize("chunk", ["7", "1000000"])
def test_calibration_for_brier_score_loss_labels(tmp_path, chunk: str) -> None:
    # true labels as numbers or text; the positive class (the greater label, or --pos-label)
    # is known only after the last row: per bin Σw and Σw·p per label, y added at the end
    rng = np.random.default_rng(11)
    n = 1500
    p = np.round(rng.uniform(size=n), 3)  # some on the bin edges 0.1, 0.2, ...
    pos = rng.uniform(size=n) < p**1.5
    w = rng.integers(1, 4, n).astype(float)
    cols = {"pred": p, "num": np.where(pos, 5.0, 2.0), "txt": np.where(pos, "spam", "ham"), "w": w}
    path = write_table(tmp_path / "b.parquet", cols)
    edges = np.linspace(0, 1, 11)
    bins = np.clip(np.searchsorted(edges[1:-1], p, side="left"), 0, 9)  # right-closed bins

    def expected(y: np.ndarray, weights: np.ndarray) -> tuple[list, list, float]:
        wsum = np.bincount(bins, weights=weights, minlength=10)
        mean_p = np.bincount(bins, weights=weights * p, minlength=10) / wsum
        freq = np.bincount(bins, weights=weights * y, minlength=10) / wsum
        gaps = [abs(math.fsum((weights * y)[bins == b]) - math.fsum((weights * p)[bins == b]))
                for b in range(10)]  # fmt: skip
        return mean_p.tolist(), freq.tolist(), math.fsum(gaps) / math.fsum(weights)

    common = ["brier", str(path), "--show", "calibration", "--chunk-size", chunk, "-f", "json"]
    cases = [
        (["-t", "num"], pos, np.ones(n)),  # labels {2, 5}: 5 is positive
        (["-t", "txt", "--pos-label", "spam"], pos, np.ones(n)),
        (["-t", "txt", "--pos-label", "ham", "-w", "w"], ~pos, w),
    ]
    for args, y, weights in cases:
        out = invoke([*common, *args])
        assert out.code == 0, out.err
        cal = out.json["histograms"]["calibration"]
        assert cal["counts"] == np.bincount(bins, minlength=10).tolist()
        mean_p, freq, ece = expected(y.astype(float), weights)
        np.testing.assert_allclose(cal["mean_predicted"], mean_p, rtol=1e-14)
        np.testing.assert_allclose(cal["observed"], freq, rtol=1e-14)
        assert cal["ece"] == pytest.approx(ece, rel=1e-14)
    sk = importlib.import_module("sklearn.calibration")
    prob_true, prob_pred = sk.calibration_curve(pos, p, n_bins=10)
    used = [c > 0 for c in cal["counts"]]
    out = invoke([*common, "-t", "num"]).json["histograms"]["calibration"]
    np.testing.assert_allclose(np.array(out["observed"])[used], prob_true, rtol=1e-12)
    np.testing.assert_allclose(np.array(out["mean_predicted"])[used], prob_pred, rtol=1e-12)
    # text labels without --pos-label: the same usage error as the loss itself
    bad = invoke([*common, "-t", "txt"])
    assert bad.code == 2 and "--pos-label" in bad.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--report", "r.pdf"], ".png, .svg or .html"),
        (["--bins", "1:0:3"], "LO < HI"),
        (["--bins", "0:1:3"], "use it with --show or --report"),
        (["--show", "hist", "--reduction", "none"], "reduction mean or sum"),
        (["--show", "pie"], "Invalid value for '--show'"),
    ],
)
def test_chart_usage_errors(scored, args: list[str], message: str) -> None:
    path, _ = scored
    if args[:2] == ["--bins", "1:0:3"]:
        args = [*args, "--show", "hist"]
    out = invoke(["mse", str(path), *args])
    assert out.code == 2 and message in out.err


def test_runs_without_charts_import_none_of_it(scored) -> None:
    path, _ = scored
    probe = (
        "import sys; from losscli.cli.app import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if 'matplotlib' in m or m in "
        "('losscli.stats.histograms', 'losscli.report.charts', 'losscli.engine.charts')))"
    )
    plain = subprocess.run(
        [sys.executable, "-c", probe, "mse", str(path), "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert plain.stdout.rstrip().endswith("LOADED []")
    shown = subprocess.run(
        [sys.executable, "-c", probe, "mse", str(path), "--show", "hist", "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "matplotlib" not in shown.stdout.rpartition("LOADED")[2]


def test_label_metrics_have_no_error_histogram(tmp_path) -> None:
    # class labels (text codes) have no "error": no histogram, and list parameters are fine
    path = write_table(
        tmp_path / "l.csv",
        {
            "text": ["cat", "dog", "emu", "dog"],
            "p0": [0.7, 0.2, 0.1, 0.3],
            "p1": [0.2, 0.7, 0.1, 0.6],
            "p2": [0.1, 0.1, 0.8, 0.1],
        },
    )
    args = ["log_loss", str(path), "-p", "p0,p1,p2", "-t", "text", "--labels", "cat,dog,emu"]
    out = invoke([*args, "--show", "hist", "-f", "json"])
    assert out.code == 0, out.err
    assert "histograms" not in out.json
    tty = invoke([*args, "--show", "hist"], tty=True, env={"NO_COLOR": "1"})
    assert "no histogram" in tty.out


def test_groups_per_output_say_why_they_are_not_drawn(scored, tmp_path) -> None:
    path, _ = scored
    two = write_table(
        tmp_path / "two.csv",
        {
            "p0": [1.0, 2.0, 3.0],
            "p1": [2.0, 2.0, 1.0],
            "t0": [1.5, 2.0, 2.0],
            "t1": [2.0, 1.0, 1.0],
            "g": ["a", "b", "a"],
        },
    )
    args = ["rmse", str(two), "-p", "p0,p1", "-t", "t0,t1", "-g", "g", "--per", "output"]
    out = invoke([*args, "--show", "groups"], tty=True, env={"NO_COLOR": "1"})
    assert out.code == 0, out.err
    assert "one value per output (--per output) are not drawn" in out.out
    plain = invoke(["mse", str(path), "--show", "groups"], tty=True, env={"NO_COLOR": "1"})
    assert "no groups to show: add --group-by COL" in plain.out
