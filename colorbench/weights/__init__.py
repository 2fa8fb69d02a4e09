"""Weights colorbench downloads: ImageNet backbones for losses and LPIPS."""
