package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// authServer answers etcd's Auth service for a store without
// authentication: AuthStatus says disabled, AuthDisable succeeds (it is),
// Authenticate gets etcd's "authentication is not enabled", and every
// call that would enable auth or manage users and roles gets
// Unimplemented with a one-line reason (etcdctl prints it).
type authServer struct {
	pb.UnimplementedAuthServer
	s *Server
}

// errAuthUnsupported answers the user, role and AuthEnable calls.
var errAuthUnsupported = status.Error(codes.Unimplemented,
	"etcdserver: seedkv does not implement authentication (auth is disabled; users and roles are not supported)")

// AuthStatus reports authentication disabled, at etcd's first auth
// revision.
func (a *authServer) AuthStatus(ctx context.Context, _ *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	var hdr *pb.ResponseHeader
	if err := a.s.onLoop(ctx, func() { hdr = a.s.localHeader() }); err != nil {
		return nil, err
	}
	// etcd's auth store starts at revision 1 (NewAuthStore commits it),
	// and only user, role and enable/disable changes move it.
	return &pb.AuthStatusResponse{Header: hdr, Enabled: false, AuthRevision: 1}, nil
}

// AuthDisable succeeds: authentication is disabled.
func (a *authServer) AuthDisable(ctx context.Context, _ *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	var hdr *pb.ResponseHeader
	if err := a.s.onLoop(ctx, func() { hdr = a.s.localHeader() }); err != nil {
		return nil, err
	}
	return &pb.AuthDisableResponse{Header: hdr}, nil
}

// Authenticate fails as etcd's does when auth is disabled.
func (a *authServer) Authenticate(context.Context, *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	return nil, rpctypes.ErrGRPCAuthNotEnabled
}

// AuthEnable is not supported.
func (a *authServer) AuthEnable(context.Context, *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return nil, errAuthUnsupported
}

// UserAdd is not supported.
func (a *authServer) UserAdd(context.Context, *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	return nil, errAuthUnsupported
}

// UserGet is not supported.
func (a *authServer) UserGet(context.Context, *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return nil, errAuthUnsupported
}

// UserList is not supported.
func (a *authServer) UserList(context.Context, *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return nil, errAuthUnsupported
}

// UserDelete is not supported.
func (a *authServer) UserDelete(context.Context, *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return nil, errAuthUnsupported
}

// UserChangePassword is not supported.
func (a *authServer) UserChangePassword(context.Context, *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	return nil, errAuthUnsupported
}

// UserGrantRole is not supported.
func (a *authServer) UserGrantRole(context.Context, *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return nil, errAuthUnsupported
}

// UserRevokeRole is not supported.
func (a *authServer) UserRevokeRole(context.Context, *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return nil, errAuthUnsupported
}

// RoleAdd is not supported.
func (a *authServer) RoleAdd(context.Context, *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return nil, errAuthUnsupported
}

// RoleGet is not supported.
func (a *authServer) RoleGet(context.Context, *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return nil, errAuthUnsupported
}

// RoleList is not supported.
func (a *authServer) RoleList(context.Context, *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return nil, errAuthUnsupported
}

// RoleDelete is not supported.
func (a *authServer) RoleDelete(context.Context, *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return nil, errAuthUnsupported
}

// RoleGrantPermission is not supported.
func (a *authServer) RoleGrantPermission(context.Context, *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return nil, errAuthUnsupported
}

// RoleRevokePermission is not supported.
func (a *authServer) RoleRevokePermission(context.Context, *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return nil, errAuthUnsupported
}
