"""Entry point of the bundled `dip-engine` (the console program); PyInstaller runs it as __main__."""
import multiprocessing
import sys
import warnings

if __name__ == "__main__":
    multiprocessing.freeze_support()
    # The bundle keeps bytecode only for most of torch; its TorchScript overload check then
    # cannot read the source and warns at import. Harmless: we never script or compile.
    warnings.filterwarnings("ignore", message="Unable to retrieve source for @torch.jit._overload")
    from dip_engine.cli import main
    sys.exit(main())
