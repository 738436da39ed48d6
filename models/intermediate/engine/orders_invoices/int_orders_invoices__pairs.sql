{{ recon_pairs('orders_invoices') }}
