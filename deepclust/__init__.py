"""deepclust: deep clustering of images (SimCLR, kNN mining, SCAN, self-labelling) as a plain library.

The library never imports Prefect, DVC or the params loader: `from deepclust.losses import SCANLoss` works
in a notebook. Stages (`stages/`) turn params into library calls; flows (`flows/`) orchestrate stages.
"""

__version__ = "0.1.0"
