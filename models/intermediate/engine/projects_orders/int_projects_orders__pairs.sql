{{ recon_pairs('projects_orders') }}
