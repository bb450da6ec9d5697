from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dunning.cli.base import app, console, err, fail

templates_app = typer.Typer(help="Customer-facing templates: check them all, preview one.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")

DirOpt = Annotated[
    Path | None, typer.Option("--templates", metavar="DIR", help="a template folder other than the shipped one")
]


@templates_app.command("check")
def check(
    templates: DirOpt = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also turn every letter into a PDF")] = True,
) -> None:
    """Render every template in every language; exit 1 on a problem."""
    from dunning.channels import render
    from dunning.replies.language import reading_problems
    from dunning.words import agree, plural

    if templates is not None and not templates.is_dir():
        fail(f"no such folder: {templates}")
    problems = render.check_all(templates, pdf=pdf) + reading_problems(render.languages(templates))
    names = render.template_names(templates)
    languages = render.languages(templates)
    counted = ", ".join(f"{len(v)} {channel}" for channel, v in names.items())
    total = sum(map(len, names.values()))
    if problems:
        for problem in problems:
            err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        err.print(
            f"[red]{plural(len(problems), 'problem')}[/red] in {plural(total, 'template')} ({counted}),"
            f" languages {', '.join(languages)}"
        )
        raise typer.Exit(1)
    console.print(
        f"{plural(total, 'template')} ({counted}) {agree(total, 'renders', 'render')} in "
        f"{', '.join(languages)}" + (", letters as PDF" if pdf else "")
    )


@templates_app.command("preview")
def preview(
    name: Annotated[str, typer.Argument(metavar="NAME", help="a template, e.g. formal_notice")],
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="language folder to render, e.g. fr")] = "en",
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="default: <var_dir>/previews")] = None,
    templates: DirOpt = None,
) -> None:
    """Write template NAME rendered with sample data.

    What each channel would send: .eml, .sms.txt and .pdf."""
    from dunning import languages
    from dunning.channels import render
    from dunning.config import get_settings

    known = sorted({n for names in render.template_names(templates).values() for n in names})
    if name not in known:
        fail(f"no template named '{name}'; known: {', '.join(known)}")
    language = languages.base(lang)
    if language not in render.languages(templates):
        fail(f"no templates in '{lang}'; languages: {', '.join(render.languages(templates))}")
    out = out or get_settings().var_dir / "previews"
    for path in render.preview(name, language, out, templates=templates):
        console.print(str(path), markup=False, highlight=False)
