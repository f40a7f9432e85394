"""Entry point of the ``cimgen`` command: the table of subcommands and the one error handler."""

from __future__ import annotations

import sys

import typer
from typer import Abort, BadParameter
from typer._click.exceptions import ClickException  # what typer raises for usage errors outside standalone mode

from cimgen import __version__
from cimgen.cli import app as app_cli
from cimgen.cli import batch, data, demo, detect, evaluate, inpainting, manipulate, official, singan, train, translate
from cimgen.errors import DISK_FULL, CimgenError

app = typer.Typer(
    name="cimgen",
    help="Controlled image manipulation with generative models: synthesise data, train and fine-tune pix2pixHD, pix2pix and CycleGAN, edit maps, blend, report, detect such manipulations, train SinGAN on one image, and edit maps in a local web editor."
    "\n\nExample: cimgen demo --out runs/demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(data.app, name="data")
app.add_typer(detect.app, name="detect")
app.add_typer(singan.app, name="singan")
app.command("train")(train.train_cmd)
app.command("finetune")(train.finetune_cmd)
app.command("translate")(translate.translate_cmd)
app.command("edit")(manipulate.edit_cmd)
app.command("manipulate")(manipulate.manipulate_cmd)
app.command("batch")(batch.batch_cmd)
app.command("evaluate")(evaluate.evaluate_cmd)
app.command("evaluate-inpainting")(inpainting.evaluate_inpainting_cmd)
app.command("import-official")(official.import_cmd)
app.command("export-official")(official.export_cmd)
app.command("demo")(demo.demo_cmd)
app.command("app")(app_cli.app_cmd)


@app.command("version")
def version() -> None:
    """Print the cimgen version.

    Example: cimgen version
    """
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status; a ``CimgenError`` becomes one line on stderr and status 2."""
    try:
        code = app(args=argv, prog_name="cimgen", standalone_mode=False)
        return code if isinstance(code, int) else 0  # --help and other early exits come back as their status
    except BadParameter as e:  # a value outside an option's range (shown in --help), or of the wrong type
        print(f"cimgen: error: {option_error(e)}", file=sys.stderr)
        return 2
    except ClickException as e:  # a missing option, an unknown command: typer's usage message
        e.show()
        return e.exit_code
    except Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except CimgenError as e:
        print(f"cimgen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cimgen: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        # whatever was being written when the disk filled up; checkpoints say so themselves
        where = f" while writing {e.filename}" if e.filename else ""
        print(f"cimgen: error: the disk is full{where}; free some space and run the command again", file=sys.stderr)
        return 2
    finally:
        _leave_process_group()
    return 0


def option_error(e: BadParameter) -> str:
    """typer's message about a bad option value as one sentence, e.g. "Invalid value for '--radius': it must be at most 1000"."""
    text = " ".join(e.format_message().split())
    for said, meant in (
        ("Input should be greater than or equal to", "it must be at least"),
        ("Input should be less than or equal to", "it must be at most"),
        ("Input should be greater than", "it must be above"),
        ("Input should be less than", "it must be below"),
    ):
        text = text.replace(said, meant)
    return text


def _leave_process_group() -> None:
    """Under torchrun, leave the process group cleanly (PyTorch warns when a program exits without it)."""
    if "torch" in sys.modules:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
