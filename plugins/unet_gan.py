"""unet_gan: seed 000 §3.3. (Being written: registers nothing yet.)"""
