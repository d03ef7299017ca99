"""The perceptual objective: frozen VGG-16 features, their offline weights, the style-loss
family and PerceptualLoss (one nn.Module built from a LossConfig) that training, the
L-BFGS baseline and evaluation all share."""
