import { lazy, type ComponentType, type LazyExoticComponent } from 'react';
import type { Permission } from '../api/types';

/**
 * The dashboard's views, in navigation order. A view appears only for users holding its
 * permission (from /api/v1/auth/me, decided by the node's own policy), so the layout adapts to
 * role, level and scope without a second copy of the rules here.
 */
export interface ViewEntry {
  id: string;
  label: string;
  permission: Permission;
  component: LazyExoticComponent<ComponentType>;
}

export const VIEWS: ViewEntry[] = [
  { id: 'map', label: 'Live map', permission: 'monitor', component: lazy(() => import('../views/map/MapView')) },
  { id: 'approvals', label: 'Approvals', permission: 'approve', component: lazy(() => import('../views/approvals/ApprovalsView')) },
  { id: 'history', label: 'History', permission: 'monitor', component: lazy(() => import('../views/history/HistoryView')) },
  { id: 'health', label: 'System health', permission: 'monitor', component: lazy(() => import('../views/health/HealthView')) },
  { id: 'overrides', label: 'Overrides', permission: 'override', component: lazy(() => import('../views/overrides/OverridesView')) },
  { id: 'topology', label: 'Topology', permission: 'monitor', component: lazy(() => import('../views/topology/TopologyView')) },
];
