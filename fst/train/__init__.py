"""Training: the LightningModule (a network + a PerceptualLoss), the photo DataModule, the
LightningCLI of ``train.py``, safe checkpoint IO and the divergence guard."""
