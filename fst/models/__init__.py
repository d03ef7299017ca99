"""Networks: the stylisation network and the frozen VGG-16 loss network."""
