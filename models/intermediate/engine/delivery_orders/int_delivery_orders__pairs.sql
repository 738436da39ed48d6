{{ recon_pairs('delivery_orders') }}
