"""Presentation edits of the chapter notebooks: markdown, cell metadata, parameters comments.

Re-runnable and idempotent (a second run changes nothing): it never touches a code cell's
source or outputs, except the comments of the ``parameters`` cells, and never executes a
notebook. Run it after a merge that brought re-executed notebooks::

    .venv/bin/python tools/notebook_presentation.py [--check]

With ``--check`` it only reports which notebooks it would change (exit status 1 if any).

What it does (the rules are in CONTRIBUTING.md, "Notebooks in JupyterLab" and "Figures"):

* parameters cells: comments without ``=`` (papermill cannot parse a line with two ``=``,
  so such a parameter could not be set); the ``fidelity`` presets as cell metadata
  (``flowapprox.fidelity``, read by ``tools/notebooks.py``, which refuses explicit values
  that a level would override);
* markdown that renders both in the book and in JupyterLab (jupyterlab-myst):
  ``{doc}`` roles become Markdown links to the source file, ``{cite}`` becomes a link to
  the work, and a note says how glued numbers read in Lab;
* every figure cell gets a MyST figure caption and label (``mystnb.figure``) and alt text;
  the markdown cell before it refers to it with ``{numref}``;
* setup and plotting cells get ``hide-input`` (behind the theme's toggle), cells that only
  glue values get ``remove-cell``;
* Chapter 1: the sentence on trajectories that contradicted its figure is corrected.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CH1 = "chapters/01-resnets-as-flows/experiments.ipynb"
CH2 = "chapters/02-flows-and-control-families/experiments.ipynb"
CH3 = "chapters/03-one-dimension/experiments.ipynb"
CH4C = "chapters/04-universal-approximation/construction.ipynb"
CH4L = "chapters/04-universal-approximation/learning.ipynb"
CH4G = "chapters/04-universal-approximation/generality.ipynb"
CH5A = "chapters/05-lp-not-uniform/annuli.ipynb"
CH5O = "chapters/05-lp-not-uniform/obstructions.ipynb"
CH6 = "chapters/06-time-as-a-resource/rates.ipynb"
CH7 = "chapters/07-interpolation/experiments.ipynb"

LAB_NOTE_MARK = "*Reading this notebook in JupyterLab?*"
LAB_NOTE = (
    f"{LAB_NOTE_MARK} Numbers pasted into the text (glued) show there as their names, for "
    "example a claim id: the cell that measures a number prints it under that name, and the "
    "rendered book shows the text with the numbers in place."
)


@dataclass(frozen=True)
class Figure:
    """Caption and label of the ``index``-th figure cell of a notebook (in cell order)."""

    label: str
    caption: str
    hide_input: bool = True  # only plotting in the cell: hide it behind the toggle
    reference: str = ""  # sentence appended to the markdown cell before the figure


@dataclass
class NotebookEdits:
    parameters: dict[str, str] = field(default_factory=dict)  # old line -> new line
    fidelity: dict[str, dict[str, object]] = field(default_factory=dict)
    markdown: list[tuple[str, str]] = field(default_factory=list)  # old text -> new text
    cite: dict[str, str] = field(default_factory=dict)  # bibtex key -> Markdown link
    figures: list[Figure] = field(default_factory=list)


EDITS: dict[str, NotebookEdits] = {
    CH1: NotebookEdits(
        markdown=[(
            "The trajectories of the depth-4 ResNet jump by $t_j f(x;\\theta_j)$ once per piece; the\n"
            "flow moves along smooth curves that never cross.",
            "The trajectories of the depth-4 ResNet jump by $t_j f(x;\\theta_j)$ once per piece (the\n"
            "dots). The flow's trajectories are continuous, with corners at the switching times of\n"
            "the control, and they may cross in the plane: the field depends on time, so two\n"
            "trajectories can pass through the same point at different times. What a flow never\n"
            "does is map two points to one at the same time: its flow map is injective at every\n"
            "time ({prf:ref}`ch1-thm-flow-homeomorphism`).",
        ), (
            "The figure shows the image of a square grid under the flow map and under two ResNets",
            "{numref}`fig-ch01-deformed-grids` shows the image of a square grid under the flow map\n"
            "and under two ResNets",
        )],
        figures=[
            Figure("fig-ch01-depth-convergence",
                   "Maximal error over the sample points of Euler (the ResNet), Heun and RK4 "
                   "against the depth $D$, for the smooth field ($\\sigma=\\tanh$, left) and the "
                   "Lipschitz field ($\\sigma=\\mathrm{relu}$, right), with fitted slopes.",
                   reference="The errors against depth are plotted in "
                             "{numref}`fig-ch01-depth-convergence`."),
            Figure("fig-ch01-deformed-grids",
                   "Image of a square grid of $[-1.5,1.5]^2$ under the flow map (left) and under "
                   "ResNets of depth 4 (middle, it folds) and 32 (right) built from the same "
                   "control."),
            Figure("fig-ch01-trajectories",
                   "Trajectories of a $4\\times4$ grid of starting points in the plane "
                   "$(x_1, x_2)$: the flow (RK4, left) and the depth-4 ResNet (right), whose "
                   "states after each layer are the dots.",
                   reference="Their trajectories are compared in {numref}`fig-ch01-trajectories`."),
        ],
    ),
    CH2: NotebookEdits(
        parameters={
            "max_rounds = 256  # largest number k of splitting rounds (k = 2, 4, ..., max_rounds)":
                "max_rounds = 256  # largest number k of splitting rounds: k runs over 2, 4, 8, ...",
            "fit_from = 8  # observed orders are fitted on k >= fit_from":
                "fit_from = 8  # observed orders are fitted on the rounds k from fit_from on",
        },
        figures=[
            Figure("fig-ch02-splitting",
                   "Maximal error of Lie-Trotter and Strang splitting against the number of "
                   "rounds $k$ for random ridge sums of $N$ neurons, one panel per activation.",
                   reference="The errors are plotted in {numref}`fig-ch02-splitting`."),
            Figure("fig-ch02-wells",
                   "Well functions built from the family. Left: the interval well $h$ (two "
                   "neurons) and the displacement $\\varphi^h_1(x)-x$ of its flow. Middle and "
                   "right: $|h|$ and the zero set of the box and triangle wells in the plane.",
                   reference="The wells are drawn in {numref}`fig-ch02-wells`."),
            Figure("fig-ch02-well-flows",
                   "Image of a grid of $[-2,2]^2$ under the flows of the box and triangle wells at "
                   "$t=1$: points in the well stay, the others move towards it.",
                   reference="Their flows deform the plane as in {numref}`fig-ch02-well-flows`."),
            Figure("fig-ch02-smooth-wells",
                   "Left: the ReLU well $\\psi$ and two least-squares sums of $M$ tanh neurons. "
                   "Right: distance between the flows of $\\psi$ and of its smooth "
                   "approximations against $M$ (markers), with the Gronwall bounds (dashed).",
                   reference="Smooth approximations of the well and their flows are compared in "
                             "{numref}`fig-ch02-smooth-wells`."),
            Figure("fig-ch02-closed-form-rk4",
                   "Distance of RK4 to the closed-form flow against the number of steps per "
                   "piece, with the fitted slope and the level $10^{-13}$.",
                   reference="RK4 against the closed form is plotted in "
                             "{numref}`fig-ch02-closed-form-rk4`."),
        ],
    ),
    CH3: NotebookEdits(
        figures=[
            Figure("fig-ch03-training",
                   "Left: the target $-x$, its best increasing fit and the map learned by one "
                   "neural ODE after increasing numbers of Adam steps. Right: training curves "
                   "(root mean squared error) of every width and piece count, with the bound "
                   "$\\sqrt{2/3}$ (dashed).",
                   reference="Training is shown in {numref}`fig-ch03-training`."),
            Figure("fig-ch03-pl-construction",
                   "An increasing piecewise-linear target (dashed, knots as dots) and the partial "
                   "compositions of neuron flows that reach it, for the one-sided (left) and the "
                   "minimal (right) strategy.",
                   reference="{numref}`fig-ch03-pl-construction` shows both strategies."),
            Figure("fig-ch03-smooth-order",
                   "Left: sup error of the flow map against the number $K$ of pieces, with the "
                   "bound $\\pi^2/(8K^2)$. Right: normalised time cost of the minimal "
                   "construction against $K$, with the minimal and one-sided costs of $F$.",
                   reference="See {numref}`fig-ch03-smooth-order`."),
            Figure("fig-ch03-collapse",
                   "Left: the flow of the multi-well field $\\psi_{4,0.1}$ at increasing times "
                   "$T$ and the step map (dashed). Right: $L^1$ distance to the step map "
                   "against $T$ (dots) with the fitted $Ae^{-T}$ (lines), and the sup distance "
                   "(dotted).",
                   reference="The collapse is plotted in {numref}`fig-ch03-collapse`."),
        ],
    ),
    CH4C: NotebookEdits(
        figures=[
            Figure("fig-ch04-stages",
                   "The construction at work on the bump target with $N=4$: 1024 points of the "
                   "square, coloured by the target value, before and after each stage.",
                   hide_input=False,
                   reference="The stages are shown in {numref}`fig-ch04-stages`."),
            Figure("fig-ch04-convergence",
                   "$L^1$ (left) and $L^2$ (right) errors of the construction against the number "
                   "$N$ of cells per side, for the three targets, with fitted slopes.",
                   reference="The errors are plotted in {numref}`fig-ch04-convergence`."),
            Figure("fig-ch04-plateau",
                   "$L^1$ error against the zoom time $T$ at fixed $N$, for the three targets; "
                   "dashed: the error of the piecewise-constant $F_N$.",
                   hide_input=False,
                   reference="See {numref}`fig-ch04-plateau`."),
            Figure("fig-ch04-heatmaps",
                   "The oscillation target $F$, the approximant $g\\circ\\varphi$ of the "
                   "construction with $N=16$, and their difference.",
                   reference="The approximant is compared with its target in "
                             "{numref}`fig-ch04-heatmaps`."),
            Figure("fig-ch04-lifted",
                   "One-dimensional targets on $[-1,1]$ and their lifted constructions.",
                   hide_input=False,
                   reference="See {numref}`fig-ch04-lifted`."),
            Figure("fig-ch04-readout-range",
                   "$L^2$ error against $N$ for a target with values outside $[-1,1]$, with a "
                   "$\\tanh$ and with a linear readout.",
                   hide_input=False,
                   reference="See {numref}`fig-ch04-readout-range`."),
            Figure("fig-ch04-baselines",
                   "Best $L^2$ errors of the simple baselines (affine, monotone additive, the "
                   "additive lower bound) and of the ReLU construction, for the three targets.",
                   hide_input=False,
                   reference="See {numref}`fig-ch04-baselines`."),
            Figure("fig-ch04-rate",
                   "The distance $D_p$ of the construction to the piecewise-constant $F_N$ "
                   "against $N$ at $\\delta=1/4$ ($\\lambda=3$), for $p=2<\\lambda$ and "
                   "$p=6>\\lambda+1$, by graded quadrature, with fitted slopes; dotted: the "
                   "$L^6$ error of the construction itself.",
                   reference="The distances are plotted in {numref}`fig-ch04-rate`."),
        ],
    ),
    CH4G: NotebookEdits(
        figures=[
            Figure("fig-ch04-generality",
                   "$L^2$ error of the construction against the number $N$ of cells per side "
                   "(markers, fitted slope dashed) and the piecewise-constant floor (dotted): "
                   "on the unit cube in dimension three (left) and on the unit disk with the "
                   "standard Gaussian measure (right).",
                   reference="Both rates are plotted in {numref}`fig-ch04-generality`."),
            Figure("fig-ch04-generality-families",
                   "$L^2$ error of the construction from other families against the number $N$ "
                   "of cells per side (markers, fitted slope dashed) and the piecewise-constant "
                   "floor (dotted): sigmoid units and units of a well on the square "
                   "$[-1,1]^2$ (left), sigmoid units on the unit cube in dimension three "
                   "(right).",
                   reference="The rates are plotted in "
                             "{numref}`fig-ch04-generality-families`."),
        ],
    ),
    CH4L: NotebookEdits(
        fidelity={"full": {"steps": 3000, "plateau_tol": 0.002, "lr": 0.005, "solver_steps": 64,
                           "n_train": 1024}},
        figures=[
            Figure("fig-ch04-training-loss",
                   "Training loss (mean squared error at the training points) against the Adam "
                   "step, for each target and number $K$ of pieces; a dot marks a run stopped by "
                   "the plateau criterion, a line without one stopped at the cap.",
                   reference="The training losses are in {numref}`fig-ch04-training-loss`."),
            Figure("fig-ch04-learned-vs-constructed",
                   "$L^2$ error against the number of neurons: the construction and the trained "
                   "flows (this notebook's seed), one panel per target.",
                   reference="{numref}`fig-ch04-learned-vs-constructed` compares the two."),
            Figure("fig-ch04-learning-sweep",
                   "The committed sweep: $L^2$ error of the trained flows against the number of "
                   "neurons ($K\\in\\{4,8,16,32\\}$ pieces of 10 units), every seed (dots) with "
                   "the median and the range over seeds (bars), next to the construction "
                   "(squares, $N\\in\\{4,8,16,32\\}$ cells) and a line proportional to its "
                   "$1/N$ rate; one panel per target.",
                   reference="See {numref}`fig-ch04-learning-sweep`."),
        ],
    ),
    CH5A: NotebookEdits(
        cite={"dupont2019augmented": "[(2019)](https://arxiv.org/abs/1904.01681)"},
        figures=[
            Figure("fig-ch05-annuli",
                   "Left: the training data ($-1$ on the disk, $+1$ on the annulus). Middle and "
                   "right: the output of the trained neural ODE and of the augmented one with "
                   "$p=1$, with the circles of radius $0.5$, $1$ and $1.5$ (dashed) and the "
                   "point of largest error on $S$ (x).",
                   reference="The data and the two models are shown in {numref}`fig-ch05-annuli`."),
        ],
    ),
    CH5O: NotebookEdits(
        figures=[
            Figure("fig-ch05-reflection",
                   "The reflection. Left: $\\log_{10}$ of the pointwise error of the construction "
                   "with $N=8$, with the boundary of the disk $B$ (dashed). Right: $L^2$ and sup "
                   "errors against $N$.",
                   reference="The errors are plotted in {numref}`fig-ch05-reflection`."),
            Figure("fig-ch05-interior-maxima",
                   "Interior maxima. Left: $\\log_{10}$ of the pointwise error for "
                   "$\\sin 2\\pi x_1\\cos 2\\pi x_2$ with $N=8$ and the certificate circle (dashed). "
                   "Right: $L^2$ and sup errors against $N$ for both targets.",
                   reference="See {numref}`fig-ch05-interior-maxima`."),
        ],
    ),
    CH6: NotebookEdits(
        figures=[
            Figure("fig-ch06-adversarial",
                   "Adversarial Jacobians: $\\log\\lVert D\\varphi(x_0)\\rVert/B$ against the Adam "
                   "step, maximised over controls of time cost $B=2$ and over $x_0$, for the ReLU "
                   "ridge family and the ReLU and tanh residual blocks of width 4; dashed: the "
                   "a-priori bound 1.",
                   reference="The optimisation is plotted in {numref}`fig-ch06-adversarial`."),
            Figure("fig-ch06-error-vs-time-1d",
                   "$L^1$ error (log scale) against the time cost $B$ of the exact ridge flows "
                   "(dots) for the smooth target, the kinked target $F_\\Lambda$ and the step, "
                   "one panel each; grey: errors that the certified lower bound forbids at that "
                   "time cost ($L=1$). The last point of the kinked target, at time cost "
                   "$2\\log\\Lambda$, is its exact representation (error at round-off level).",
                   reference="Errors against time cost are plotted in "
                             "{numref}`fig-ch06-error-vs-time-1d`."),
            Figure("fig-ch06-error-vs-time-2d",
                   "Top: $L^1$ error against $\\log_{10}$ of the time cost $B$ for the "
                   "construction of Chapter 4 on the bump, the cone and the disk (dots, "
                   "$N=4,\\dots,32$) and for the trained neural ODEs on the disk (squares); grey: "
                   "errors forbidden for the disk by the certified bound ($L=1$). Bottom: the "
                   "construction's errors against $B$ on log-log axes, with fitted power laws.",
                   reference="{numref}`fig-ch06-error-vs-time-2d` shows errors against time "
                             "cost."),
            Figure("fig-ch06-switching",
                   "Sup error of Lie and Strang switching towards the time-1 flow of a sum of tanh "
                   "neurons against the number of rounds $k$ (log-log), all at the time cost of "
                   "the sum, with fitted slopes; dashed: the proved Lie-Trotter bound.",
                   reference="The errors are plotted in {numref}`fig-ch06-switching`."),
            Figure("fig-ch06-frontier",
                   "The disk: time cost $B$ against the number of neurons (log-log) of the "
                   "construction on a grid of $N$ and zoom times (dots) and of the trained neural "
                   "ODEs (squares), coloured by $\\log_{10}$ of the $L^1$ error; dashed: the "
                   "frontier among approximants with $L^1$ error at most 0.15; dotted: the "
                   "certified minimal time cost at that error.",
                   reference="The frontier is drawn in {numref}`fig-ch06-frontier`."),
        ],
    ),
    CH7: NotebookEdits(
        figures=[
            Figure("fig-ch07-counts",
                   "Left: neurons of the construction against the number $M$ of points (log-log), "
                   "for $n=2$ (circles) and $n=3$ (squares), with $2M$ (dashed, the number of "
                   "pieces). Right: time cost against $M$ with fitted power laws, the proved "
                   "bound (dotted) and the Lipschitz lower bound of every interpolating flow "
                   "(dash-dotted).",
                   reference="Counts and time costs are plotted in {numref}`fig-ch07-counts`."),
            Figure("fig-ch07-trajectories",
                   "The construction for ten random points in the plane $(x_1,x_2)$: RK4 "
                   "trajectories during stage 1 (left, sliding along the first direction) and "
                   "stage 2 (right, sliding onto the targets, crosses), with a marker after each "
                   "piece.",
                   reference="See {numref}`fig-ch07-trajectories`."),
            Figure("fig-ch07-classification",
                   "The readout $\\operatorname{sign}(y_1)$ after the constructed flow on a grid "
                   "of the plane (red: $+1$, blue: $-1$), with the training points (blue: class "
                   "$-1$, orange: class $+1$), for two spirals (left) and the concentric annuli of "
                   "Chapter 5 (right).",
                   reference="The classification maps are in "
                             "{numref}`fig-ch07-classification`."),
        ],
    ),
}

DOC_ROLE = re.compile(r"\{doc\}`(?:([^`<]*?)\s*<([^`>]+)>|([^`]+))`")
GLUE_ONLY = re.compile(r"^(glue\(.*\)\s*)+$", re.S)


def _title(target: Path) -> str | None:
    """First level-1 heading of a Markdown file or notebook."""
    if target.suffix == ".ipynb":
        cells = nbformat.read(target, as_version=4).cells
        text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    else:
        text = target.read_text(encoding="utf-8")
    match = re.search(r"^# (.+)$", text, re.M)
    return match.group(1).strip() if match else None


def doc_to_link(text: str, folder: Path) -> str:
    """``{doc}`target``` -> ``[Title](target.md)`` (or ``.ipynb``), resolved from ``folder``."""

    def replace(match: re.Match[str]) -> str:
        explicit, target, bare = match.groups()
        target = (target or bare).strip()
        for suffix in (".md", ".ipynb"):
            path = (folder / target).with_suffix(suffix)
            if path.exists():
                break
        else:
            raise SystemExit(f"{{doc}}`{target}` in {folder}: no such page")
        title = explicit or _title(path) or target
        return f"[{title}]({target}{suffix})"

    return DOC_ROLE.sub(replace, text)


def _is_figure_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and any(
        "image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def _add_tag(cell: nbformat.NotebookNode, tag: str) -> None:
    tags = cell.metadata.setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def _plain(caption: str) -> str:
    """Alt text: the caption without TeX markup."""
    def untex(match: re.Match[str]) -> str:
        tex = re.sub(r"\\(mathrm|operatorname|mathbb|tfrac|frac|left|right)\b", "", match.group(1))
        tex = tex.replace("\\times", " x ").replace("\\circ", " o ")
        tex = re.sub(r"\\([a-zA-Z]+)", r"\1", tex)
        return re.sub(r"[{}\\_]", "", tex).replace("^", "^")

    text = re.sub(r"\$([^$]*)\$", untex, caption)
    return re.sub(r"\s+", " ", text).strip()


def apply(path: Path, edits: NotebookEdits) -> nbformat.NotebookNode:
    """Return the notebook at ``path`` with ``edits`` (and the generic rules) applied."""
    nb = nbformat.read(path, as_version=4)
    rel = path.relative_to(ROOT).as_posix()
    # Parameters cell: comments and fidelity presets.
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            for old, new in edits.parameters.items():
                cell.source = cell.source.replace(old, new)
            if edits.fidelity:
                cell.metadata["flowapprox"] = {"fidelity": edits.fidelity}
    # Markdown: chapter-specific text, {doc} -> links, {cite} -> links, the Lab note.
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    for cell in markdown:
        for old, new in edits.markdown:
            cell.source = cell.source.replace(old, new)
        cell.source = doc_to_link(cell.source, path.parent)
        for key, link in edits.cite.items():
            cell.source = re.sub(r"\{cite(?::\w+)?\}`" + re.escape(key) + "`", link, cell.source)
        if re.search(r"\{cite(?::\w+)?\}`", cell.source):
            raise SystemExit(f"{rel}: a {{cite}} role without a rule in EDITS (cannot render in Lab)")
    if markdown and LAB_NOTE_MARK not in markdown[0].source and "{glue:text}" in "".join(
            c.source for c in markdown):
        markdown[0].source = markdown[0].source.rstrip() + "\n\n" + LAB_NOTE
    # Figures: caption, label, alt text, reference from the text, hide plotting code.
    figure_cells = [i for i, c in enumerate(nb.cells) if _is_figure_cell(c)]
    if len(figure_cells) != len(edits.figures):
        raise SystemExit(f"{rel}: {len(figure_cells)} figure cells but {len(edits.figures)} "
                         "captions in tools/notebook_presentation.py: update EDITS")
    all_markdown = "\n".join(c.source for c in markdown)
    for index, figure in zip(figure_cells, edits.figures):
        cell = nb.cells[index]
        mystnb = cell.metadata.setdefault("mystnb", {})
        mystnb["figure"] = {"caption": figure.caption, "name": figure.label}
        mystnb["image"] = {"alt": _plain(figure.caption)}
        if figure.hide_input:
            _add_tag(cell, "hide-input")
        if figure.reference and f"`{figure.label}`" not in all_markdown:
            before = next((nb.cells[j] for j in range(index - 1, -1, -1)
                           if nb.cells[j].cell_type == "markdown"), None)
            if before is not None:
                before.source = before.source.rstrip() + " " + figure.reference
                all_markdown += figure.reference
    # Setup cell (imports, fa.setup) behind the toggle; glue-only cells removed from the page.
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        if "fa.setup(" in cell.source and "parameters" not in cell.metadata.get("tags", []):
            _add_tag(cell, "hide-input")
        elif GLUE_ONLY.match(cell.source.strip()) and not cell.get("outputs"):
            _add_tag(cell, "remove-cell")
    return nb


def serialise(nb: nbformat.NotebookNode) -> str:
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    changed = []
    for rel, edits in EDITS.items():
        path = ROOT / rel
        before = path.read_text(encoding="utf-8")
        after = serialise(apply(path, edits))
        if after != before:
            changed.append(rel)
            if not args.check:
                path.write_text(after, encoding="utf-8")
    verb = "would change" if args.check else "changed"
    print(f"{verb}: {', '.join(changed) if changed else 'nothing'}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
